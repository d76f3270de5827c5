/**
 * The runtime around the graphs: one compiled session set serves every checkpoint of an architecture, the
 * whole-model graph computes what the per-layer path computes, storage dtypes and f16 MatMuls, and weight
 * errors that name the tensor.
 */
import {
  FormatError,
  roundToBf16InPlace,
  roundToF16InPlace,
  type Tensor,
  tensorFromFloat32,
} from "@lethe/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { forward } from "../src/runtime/forward.js";
import { Model } from "../src/runtime/model.js";
import { MemoryTensorSource } from "../src/runtime/weights.js";
import { modelFrom, relativeError, testSessions, toTensors } from "./helpers.js";
import { referenceForward } from "./reference/forward64.js";
import { expectedTensors, randomWeights, type TinyShape, tinyConfig } from "./reference/tiny-models.js";

const sessions = testSessions();
afterAll(() => sessions.release());

const SHAPE: TinyShape = {
  vocab: 150,
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 40,
  tied: false,
};
const ROWS = [
  [5, 17, 42, 99, 3, 120, 7],
  [30, 2, 77],
];
const CONFIG = tinyConfig("llama", SHAPE);
const SHAPES = expectedTensors("llama", SHAPE);

describe("session reuse", () => {
  it("a sweep of checkpoints of one architecture compiles nothing after the first", async () => {
    const cache = testSessions();
    const first = await modelFrom(CONFIG, toTensors(randomWeights("llama", SHAPE, 1), SHAPES), {
      sessionCache: cache,
    });
    await forward(first, ROWS);
    await first.generate(ROWS, { maxNewTokens: 2 });
    await first.score(ROWS);
    const compiled = cache.stats.compiled;
    expect(compiled).toBe(5); // embed, layer, head, layer with KV cache, logprobs
    const hits = cache.stats.hits;
    const logits: Float32Array[] = [];
    for (let seed = 2; seed <= 7; seed++) {
      const weights = randomWeights("llama", SHAPE, seed);
      const m = await modelFrom(CONFIG, toTensors(weights, SHAPES), { sessionCache: cache });
      const out = await forward(m, ROWS);
      await m.generate(ROWS, { maxNewTokens: 2 });
      await m.score(ROWS);
      const ref = referenceForward(CONFIG, weights, ROWS);
      expect(relativeError(out.logits!, 0, ref.logits[0]!, 0, 7 * SHAPE.vocab)).toBeLessThan(1e-4);
      logits.push(out.logits!);
    }
    expect(cache.stats.compiled).toBe(compiled);
    expect(cache.stats.hits).toBeGreaterThan(hits);
    expect(logits[0]).not.toEqual(logits[1]);
    await cache.release();
  });

  it("a different architecture shape compiles its own sessions", async () => {
    const cache = testSessions();
    await forward(
      await modelFrom(CONFIG, toTensors(randomWeights("llama", SHAPE, 1), SHAPES), { sessionCache: cache }),
      ROWS,
    );
    const n = cache.stats.compiled;
    const other = { ...SHAPE, kvHeads: 4 };
    const m = await modelFrom(
      tinyConfig("llama", other),
      toTensors(randomWeights("llama", other, 1), expectedTensors("llama", other)),
      {
        sessionCache: cache,
      },
    );
    await forward(m, ROWS);
    // The layer graph differs (kv heads); embed and head are shared.
    expect(cache.stats.compiled).toBe(n + 1);
    await cache.release();
  });
});

describe("whole-model graph", () => {
  it("gives the per-layer path's logits and hidden states", async () => {
    for (const arch of ["llama", "olmo"] as const) {
      const shape = { ...SHAPE, tied: arch === "olmo" };
      const m = await modelFrom(
        tinyConfig(arch, shape),
        toTensors(randomWeights(arch, shape, 3), expectedTensors(arch, shape)),
        {
          sessionCache: sessions,
        },
      );
      const layers = await forward(m, ROWS, { hidden: true });
      const whole = await forward(m, ROWS, { hidden: true, graph: "model" });
      expect(relativeError(whole.logits!, 0, layers.logits!, 0, layers.logits!.length)).toBeLessThan(1e-5);
      expect([...whole.hidden!.keys()]).toEqual(["embed", "layer.0", "layer.1"]);
      for (const [name, h] of layers.hidden!) {
        expect(relativeError(whole.hidden!.get(name)!, 0, h, 0, h.length), name).toBeLessThan(1e-5);
      }
    }
  });
});

describe("partial forward", () => {
  it("stopAfterLayer gives the full run's residual stream up to that layer and no logits", async () => {
    const shape = { ...SHAPE, layers: 3 };
    const m = await modelFrom(
      tinyConfig("llama", shape),
      toTensors(randomWeights("llama", shape, 4), expectedTensors("llama", shape)),
      {
        sessionCache: sessions,
      },
    );
    const full = await forward(m, ROWS, { hidden: true });
    const part = await forward(m, ROWS, { hidden: true, stopAfterLayer: 1 });
    expect(part.logits).toBeNull();
    expect([...part.hidden!.keys()]).toEqual(["embed", "layer.0", "layer.1"]);
    expect(part.hidden!.get("layer.1")).toEqual(full.hidden!.get("layer.1"));
    await expect(forward(m, ROWS, { stopAfterLayer: 3 })).rejects.toThrow(
      "stopAfterLayer 3 is not a layer index (the model has 3 layers)",
    );
  });
});

describe("weights", () => {
  it("bf16 and f16 storage give exactly what f32 storage of the rounded values gives", async () => {
    const weights = randomWeights("llama", SHAPE, 5);
    for (const [dtype, round] of [
      ["BF16", roundToBf16InPlace],
      ["F16", roundToF16InPlace],
    ] as const) {
      const stored = await modelFrom(CONFIG, toTensors(weights, SHAPES, dtype), { sessionCache: sessions });
      const rounded = new Map<string, Tensor>();
      for (const [name, v] of weights)
        rounded.set(name, tensorFromFloat32(round(Float32Array.from(v)), SHAPES.get(name)!, "F32"));
      const exact = await modelFrom(CONFIG, rounded, { sessionCache: sessions });
      expect((await forward(stored, ROWS)).logits).toEqual((await forward(exact, ROWS)).logits);
    }
  });

  it("f16 MatMuls stay within 1e-2 of the float64 reference", async () => {
    const weights = randomWeights("qwen2", SHAPE, 6, 0.2);
    const config = tinyConfig("qwen2", SHAPE);
    const m = await modelFrom(config, toTensors(weights, expectedTensors("qwen2", SHAPE)), {
      sessionCache: sessions,
      matmulDtype: "float16",
    });
    expect(m.weights.layers[0]!.feeds["self_attn.q_proj.weight"]!.type).toBe("float16");
    expect(m.weights.layers[0]!.feeds["self_attn.q_proj.bias"]!.type).toBe("float32");
    const out = await forward(m, ROWS, { hidden: true });
    const ref = referenceForward(config, weights, ROWS);
    const err = relativeError(out.logits!, 0, ref.logits[0]!, 0, 7 * SHAPE.vocab);
    expect(err).toBeLessThan(1e-2);
    expect(err).toBeGreaterThan(1e-6); // it really ran in f16
  });

  const tensors = () => toTensors(randomWeights("llama", SHAPE, 1), SHAPES);
  const load = (t: Map<string, Tensor>) =>
    Model.create(parseConfig(CONFIG), new MemoryTensorSource(t), {
      sessionCache: sessions,
      sourceName: "ckpt",
    });

  it("names a missing tensor", async () => {
    const t = tensors();
    t.delete("model.layers.1.mlp.up_proj.weight");
    await expect(load(t)).rejects.toThrow(
      new FormatError('ckpt: missing tensor "model.layers.1.mlp.up_proj.weight"'),
    );
  });

  it("names a tensor whose shape disagrees with config.json", async () => {
    const t = tensors();
    t.set(
      "model.layers.0.self_attn.k_proj.weight",
      tensorFromFloat32(new Float32Array(32 * 32), [32, 32], "F32"),
    );
    await expect(load(t)).rejects.toThrow(
      'ckpt: tensor "model.layers.0.self_attn.k_proj.weight" has shape [32,32], config.json implies [16,32]',
    );
  });

  it("names a tensor that is not a float", async () => {
    const t = tensors();
    t.set("model.norm.weight", { dtype: "I32", shape: [32], data: new Uint8Array(128) });
    await expect(load(t)).rejects.toThrow('ckpt: tensor "model.norm.weight" has dtype I32, not a float type');
  });

  it("rejects token ids outside the vocabulary, naming row and position", async () => {
    const m = await load(tensors());
    await expect(
      forward(m, [
        [1, 2],
        [3, 150],
      ]),
    ).rejects.toThrow("input ids: row 1, position 1: token 150 is outside [0, 150)");
  });
});
