/** The graph IR: shape rules, and ONNX encoding checked by running the encoded model in ONNX Runtime. */
import { afterAll, describe, expect, it } from "vitest";
import { buildLayerGraph } from "../src/arch/graphs.js";
import { parseConfig } from "../src/config.js";
import { Graph } from "../src/graph/ir.js";
import * as op from "../src/graph/ops.js";
import { ort } from "../src/index.js";
import { type CompiledGraph, compileGraph } from "../src/runtime/session-cache.js";
import { tinyConfig } from "./reference/tiny-models.js";

const compiled: CompiledGraph[] = [];
afterAll(async () => {
  for (const c of compiled) await c.session.release();
});

async function run(g: Graph, feeds: Record<string, ort.Tensor>) {
  const c = await compileGraph(g, { intraOpNumThreads: 1 });
  compiled.push(c);
  return c.session.run(feeds);
}

describe("shape rules", () => {
  it("broadcast, matmul batch dims, reshape 0/-1 with symbolic dims, concat, transpose", () => {
    const g = new Graph("shapes");
    const x = g.input("x", "float32", ["batch", "seq", 8]);
    expect(op.add(x, g.input("b", "float32", [8])).shape).toEqual(["batch", "seq", 8]);
    expect(op.add(x, g.input("c", "float32", ["batch", 1, 1])).shape).toEqual(["batch", "seq", 8]);
    const heads = op.reshape(x, [0, 0, 2, 4]);
    expect(heads.shape).toEqual(["batch", "seq", 2, 4]);
    const t = op.transpose(heads, [0, 2, 1, 3]);
    expect(t.shape).toEqual(["batch", 2, "seq", 4]);
    expect(op.reshape(t, [0, 4, -1, 2]).shape).toEqual(["batch", 4, "seq", 2]);
    expect(op.matmul(t, op.transpose(t, [0, 1, 3, 2])).shape).toEqual(["batch", 2, "seq", "seq"]);
    const past = g.input("past", "float32", ["batch", 2, "past", 4]);
    expect(op.concat([past, t], 2).shape).toEqual(["batch", 2, "past+seq", 4]);
    expect(op.reduceMean(x, [-1]).shape).toEqual(["batch", "seq", 1]);
    expect(op.reduceSum(x, [0, 1], false).shape).toEqual([8]);
    expect(op.slice(x, -1, 2, 6).shape).toEqual(["batch", "seq", 4]);
    expect(op.expand(op.unsqueeze(t, [2]), [1, 1, 3, 1, 1]).shape).toEqual(["batch", 2, 3, "seq", 4]);
    expect(op.cast(x, "float16").dtype).toBe("float16");
    const ids = g.input("ids", "int64", ["batch", "seq"]);
    expect(op.gather(g.input("emb", "float32", [100, 8]), ids).shape).toEqual(["batch", "seq", 8]);
  });

  it("rejects inconsistent shapes with the op and its operands in the message", () => {
    const g = new Graph("bad");
    const a = g.input("a", "float32", [3, 4]);
    const b = g.input("b", "float32", [5, 6]);
    expect(() => op.matmul(a, b)).toThrow("MatMul(a: float32[3,4], b: float32[5,6]): inner dims 4 != 5");
    expect(() => op.add(a, b)).toThrow("Add(a: float32[3,4], b: float32[5,6]): cannot broadcast 3 with 5");
    expect(() => op.add(a, g.input("i", "int64", [3, 4]))).toThrow("dtype mismatch: float32 vs int64");
    expect(() => op.reshape(a, [5, -1])).toThrow("12 is not divisible by 5");
    expect(() => g.input("a", "float32", [1])).toThrow("duplicate value name a");
  });
});

describe("ONNX encoding", () => {
  it("runs a graph of every op family and matches the same computation in JS", async () => {
    const g = new Graph("ops");
    const x = g.input("x", "float32", ["n", 4]);
    const w = g.input("w", "float32", [3, 4]);
    const y = op.matmul(x, op.transpose(w, [1, 0])); // [n, 3]
    const soft = op.softmax(op.mul(y, 0.5), -1);
    const lsm = op.logSoftmax(y, -1);
    const picked = op.squeeze(op.gatherElements(lsm, g.input("label", "int64", ["n", 1]), 1), [1]);
    const clipped = op.clip(op.sub(y, 1), -0.5, 0.5);
    const rms = op.div(x, op.sqrt(op.add(op.reduceMean(op.pow(x, 2), [-1]), 1e-6)));
    const where = op.where(op.less(x, 0), op.neg(x), op.mul(x, op.sigmoid(x)));
    g.output(soft, "soft");
    g.output(picked, "picked");
    g.output(clipped, "clipped");
    g.output(rms, "rms");
    g.output(where, "where");
    g.output(op.cast(op.cast(x, "float16"), "float32"), "roundtrip16");
    g.output(op.reduceSum(op.concat([x, x], 0), [0], false), "sum");

    const xv = Float32Array.from([0.5, -1, 2, 0.25, -0.75, 1.5, 0, 3]);
    const wv = Float32Array.from({ length: 12 }, (_, i) => ((i * 7) % 5) / 5 - 0.4);
    const r = await run(g, {
      x: new ort.Tensor("float32", xv, [2, 4]),
      w: new ort.Tensor("float32", wv, [3, 4]),
      label: new ort.Tensor("int64", BigInt64Array.from([2n, 0n]), [2, 1]),
    });
    for (let n = 0; n < 2; n++) {
      const yr = [0, 1, 2].map((o) =>
        [0, 1, 2, 3].reduce((acc, i) => acc + xv[n * 4 + i]! * wv[o * 4 + i]!, 0),
      );
      const e = yr.map((v) => Math.exp(v * 0.5));
      const se = e.reduce((a, b) => a + b);
      for (const [o, v] of e.entries())
        expect((r["soft"]!.data as Float32Array)[n * 3 + o]).toBeCloseTo(v / se, 6);
      const lse = Math.log(yr.reduce((a, v) => a + Math.exp(v), 0));
      expect((r["picked"]!.data as Float32Array)[n]).toBeCloseTo(yr[[2, 0][n]!]! - lse, 5);
      for (const [o, v] of yr.entries()) {
        expect((r["clipped"]!.data as Float32Array)[n * 3 + o]).toBeCloseTo(
          Math.min(0.5, Math.max(-0.5, v - 1)),
          6,
        );
      }
      const row = [...xv.subarray(n * 4, n * 4 + 4)];
      const inv = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / 4 + 1e-6);
      row.forEach((v, i) => {
        expect((r["rms"]!.data as Float32Array)[n * 4 + i]).toBeCloseTo(v * inv, 6);
        expect((r["where"]!.data as Float32Array)[n * 4 + i]).toBeCloseTo(
          v < 0 ? -v : v / (1 + Math.exp(-v)),
          6,
        );
      });
    }
    expect([...(r["roundtrip16"]!.data as Float32Array)]).toEqual([...xv]);
    expect(r["sum"]!.dims).toEqual([4]);
    const colSums = [0, 1, 2, 3].map((i) => 2 * (xv[i]! + xv[4 + i]!));
    for (const [i, v] of colSums.entries()) expect((r["sum"]!.data as Float32Array)[i]).toBeCloseTo(v, 5);
  });

  it("renames an output that is a graph input through an Identity", async () => {
    const g = new Graph("identity");
    const x = g.input("x", "float32", [2]);
    g.output(x, "y");
    const r = await run(g, { x: new ort.Tensor("float32", Float32Array.from([1, 2]), [2]) });
    expect([...(r["y"]!.data as Float32Array)]).toEqual([1, 2]);
  });
});

describe("decoder layer graph", () => {
  it("is standard ONNX with static ranks, takes the layer input and weights as inputs", () => {
    const config = parseConfig(
      tinyConfig("qwen2", { vocab: 50, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24 }),
    );
    const g = buildLayerGraph(config, { matmulDtype: "float32", lora: new Map([["mlp.up_proj", 2]]) }, true);
    expect(g.nodes.every((n) => n.domain === "")).toBe(true);
    const ops = new Set(g.nodes.map((n) => n.op));
    expect([...ops].sort()).toEqual([
      "Add",
      "Concat",
      "Div",
      "Expand",
      "MatMul",
      "Mul",
      "Neg",
      "Pow",
      "ReduceMean",
      "Reshape",
      "Sigmoid",
      "Slice",
      "Softmax",
      "Sqrt",
      "Transpose",
      "Unsqueeze",
    ]);
    expect(g.inputs.map((v) => v.name)).toEqual([
      "hidden",
      "attn_bias",
      "cos",
      "sin",
      "past_key",
      "past_value",
      "input_layernorm.weight",
      "self_attn.q_proj.weight",
      "self_attn.q_proj.bias",
      "self_attn.k_proj.weight",
      "self_attn.k_proj.bias",
      "self_attn.v_proj.weight",
      "self_attn.v_proj.bias",
      "self_attn.o_proj.weight",
      "post_attention_layernorm.weight",
      "mlp.gate_proj.weight",
      "mlp.up_proj.weight",
      "mlp.up_proj.lora_A.weight",
      "mlp.up_proj.lora_B.weight",
      "lora_scaling",
      "mlp.down_proj.weight",
    ]);
    expect(g.outputs.map((v) => `${v.name}[${v.shape}]`)).toEqual([
      "hidden_out[batch,seq,16]",
      "present_key[batch,2,past+seq,4]",
      "present_value[batch,2,past+seq,4]",
    ]);
  });
});
