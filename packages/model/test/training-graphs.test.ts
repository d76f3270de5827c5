/**
 * The loss head's gradient graph writes its cotangent on the logits out in closed form; here it is checked against
 * the gradient the rule table derives from the loss head's own statistics (GatherElements → LogSoftmax, and KL's
 * Exp·Sub·ReduceSum), run by ONNX Runtime on the same random inputs, for Llama's RMSNorm head and OLMo's
 * LayerNorm head, with and without KL, and with `statistics` returning the loss head's own outputs.
 */

import { Rng } from "@lethe/core";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { buildGraph } from "../src/arch/build-graph.js";
import type { TrainingGraphOptions } from "../src/arch/graphs.js";
import { parseConfig } from "../src/config.js";
import { gradient } from "../src/graph/gradient.js";
import type { Graph, Value } from "../src/graph/ir.js";
import { encodeModel } from "../src/graph/onnx-encode.js";
import { prune } from "../src/graph/prune.js";
import { relativeError } from "./helpers.js";
import { tinyConfig } from "./reference/tiny-models.js";

const BATCH = 3;
const SEQ = 5;
/** OLMo's final LayerNorm has no weight. */
const TRAINABLE = {
  llama: ["lm_head.weight", "model.norm.weight"],
  olmo: ["lm_head.weight"],
};

async function run(graph: Graph, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(encodeModel(graph), { intraOpNumThreads: 1 });
  const names = new Set(graph.inputs.map((v) => v.name));
  const out = await session.run(
    Object.fromEntries(Object.entries(feeds).filter(([name]) => names.has(name))),
  );
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data as Float32Array]));
}

function headGraph(
  kind: "loss_head" | "loss_head_grad",
  config: ReturnType<typeof parseConfig>,
  training: Omit<TrainingGraphOptions, "logprobs">,
): Graph {
  const options = { matmulDtype: "float32" as const, lora: null };
  return buildGraph({ kind, config, options, training: { ...training, logprobs: false } });
}

/** The rule table's gradient of Σ grad.<stat>·stat, taken from the loss_head graph's outputs. */
function derivedHeadGradient(
  config: ReturnType<typeof parseConfig>,
  kl: boolean,
  trainable: string[],
): Graph {
  const graph = headGraph("loss_head", config, { trainable: [], inputGrad: false, kl, statistics: false });
  const byName = (name: string) => graph.inputs.find((v) => v.name === name)!;
  const stats = [...graph.outputs];
  const of = stats.map((v) => [v, graph.input(`grad.${v.name}`, v.dtype, v.shape)] as [Value, Value]);
  const wrt = ["hidden", ...trainable].map(byName);
  const grads = gradient(graph, { of, wrt });
  graph.outputs.length = 0;
  for (const [i, g] of grads.entries()) graph.output(g!, `grad.${wrt[i]!.name}`);
  for (const v of stats) graph.output(v, v.name);
  prune(graph);
  return graph;
}

function feedsFor(graph: Graph, seed: number): Record<string, ort.Tensor> {
  const rng = new Rng(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const v of graph.inputs) {
    const shape = v.shape.map((d) => (d === "batch" ? BATCH : d === "seq" ? SEQ : (d as number)));
    const n = shape.reduce((a, b) => a * b, 1);
    if (v.dtype === "int64") {
      const vocab = graph.inputs.find((x) => x.name === "lm_head.weight")!.dim(0);
      feeds[v.name] = new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: n }, () => BigInt(rng.below(vocab))),
        shape,
      );
    } else if (v.name === "ref_logprobs") {
      feeds[v.name] = new ort.Tensor(
        "float32",
        logSoftmaxRows(randomValues(rng, n, 2), shape.at(-1)!),
        shape,
      );
    } else {
      feeds[v.name] = new ort.Tensor("float32", randomValues(rng, n, 1), shape);
    }
  }
  return feeds;
}

function randomValues(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => scale * (2 * rng.float() - 1));
}

function logSoftmaxRows(x: Float32Array, width: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    const row = x.subarray(r * width, (r + 1) * width);
    const max = Math.max(...row);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    for (let i = 0; i < width; i++) out[r * width + i] = row[i]! - max - Math.log(sum);
  }
  return out;
}

describe("loss_head_grad: the closed-form logits cotangent", () => {
  for (const arch of ["llama", "olmo"] as const) {
    for (const kl of [false, true]) {
      it(`${arch}, ${kl ? "token log-probs and KL" : "token log-probs"}: equals the rule table's gradient`, async () => {
        const config = parseConfig(tinyConfig(arch, { vocab: 40, hidden: 16, tied: false }));
        const trainable = TRAINABLE[arch];
        const closed = headGraph("loss_head_grad", config, {
          trainable,
          inputGrad: true,
          kl,
          statistics: true,
        });
        const derived = derivedHeadGradient(config, kl, trainable);
        const feeds = feedsFor(derived, kl ? 7 : 3);
        const ours = await run(closed, feeds);
        const expected = await run(derived, feeds);
        const outputs = [
          "grad.hidden",
          ...trainable.map((w) => `grad.${w}`),
          "token_logprobs",
          ...(kl ? ["kl"] : []),
        ];
        expect(Object.keys(ours).sort()).toEqual(outputs.sort());
        for (const name of outputs) {
          const a = ours[name]!;
          const b = expected[name]!;
          expect(Math.max(...b.map(Math.abs)), name).toBeGreaterThan(1e-3);
          expect(relativeError(a, 0, b, 0, b.length), name).toBeLessThan(2e-6);
        }
        // the written-out form makes no [batch, seq, V] zeros to scatter into; the derived one does
        const vocabZeros = (g: Graph) =>
          g.nodes.filter((n) => n.op === "Expand" && n.outputs[0]!.shape.at(-1) === config.vocabSize).length;
        expect(vocabZeros(derived)).toBeGreaterThan(0);
        expect(vocabZeros(closed)).toBe(0);
      });
    }
  }
});
