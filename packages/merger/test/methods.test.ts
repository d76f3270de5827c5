/**
 * Every task-arithmetic method, in every semantics, for every working dtype, against the straightforward
 * reference in helpers/reference.ts: bit-identical outputs on small tensors whose deltas tie at the trim
 * threshold, split into several blocks so tie quotas cross block boundaries.
 */
import type { FloatDType } from "@lethe/core";
import { describe, expect, it } from "vitest";
import { mergeGtaTensor } from "../src/engine/gta-tensor.js";
import { mergeLinearTensor } from "../src/engine/linear-tensor.js";
import { InlineRunner } from "../src/engine/runner.js";
import { gtaJob, linearSpec } from "../src/engine/tensor-job.js";
import { mergeMethod } from "../src/methods/registry.js";
import { SEMANTICS, type SemanticsName } from "../src/semantics.js";
import { randomKey, randomWords, STREAM_DARE, STREAM_DELLA } from "../src/sparsify/random.js";
import { referenceGta, referenceLinear, refRound, type W } from "./helpers/reference.js";
import { decode, raw, sameBits, tiedModels } from "./helpers/tensors.js";

const SHAPE = [23, 41];
const N = SHAPE[0]! * SHAPE[1]!;
const SEED = 1234;
const TENSOR = "model.layers.3.mlp.up_proj.weight";

const DTYPE_PAIRS: [W, FloatDType][] = [
  ["BF16", "BF16"],
  ["BF16", "F32"],
  ["F16", "F16"],
  ["F16", "F32"],
  ["F32", "F32"],
  ["F32", "BF16"],
];

const GTA_METHODS = [
  "task_arithmetic",
  "ties",
  "dare_ties",
  "dare_linear",
  "breadcrumbs",
  "breadcrumbs_ties",
  "della",
  "della_linear",
];

const MODEL_PARAMS = [
  { weight: 0.3, density: 0.5, gamma: 0.05, epsilon: 0.1 },
  { weight: 0.7, density: 0.35, gamma: 0.02, epsilon: 0.2 },
  { weight: 0.45, density: 0.6, gamma: 0.0, epsilon: 0.15 },
];

/** DELLA's keep mask computed from the formula, with the generator's words (tested on its own). */
function dellaMask(delta: number[], cols: number, d: number, eps: number, work: W, model: number): boolean[] {
  const R = (x: number) => refRound(x, work);
  const words = randomWords(
    randomKey(SEED, TENSOR),
    model,
    STREAM_DELLA,
    0,
    delta.length,
    new Uint32Array(delta.length),
  );
  const mask: boolean[] = [];
  for (let row = 0; row * cols < delta.length; row++) {
    const idx = Array.from({ length: cols }, (_, c) => row * cols + c);
    const order = idx.slice().sort((a, b) => Math.abs(delta[a]!) - Math.abs(delta[b]!) || b - a);
    const rankOf = new Map(order.map((i, r) => [i, R(R(r) + 1)]));
    const min = R(R(0) + 1);
    const max = R(R(cols - 1) + 1);
    for (const i of idx) {
      const norm = Math.min(1, Math.max(0, R(R(rankOf.get(i)! - min) / R(max - min))));
      const p = R(Math.fround(d - eps) + R(R(norm * 2) * Math.fround(eps)));
      mask[i] = words[i]! < p * 2 ** 32;
    }
  }
  return mask;
}

function dareMask(n: number, p: number, model: number): boolean[] {
  const words = randomWords(randomKey(SEED, TENSOR), model, STREAM_DARE, 0, n, new Uint32Array(n));
  return Array.from(words, (w) => w < p * 2 ** 32);
}

async function runGta(
  method: string,
  semanticsName: SemanticsName,
  w: W,
  inputDtype: FloatDType,
  models: number,
  options: { lambda?: number; normalize?: boolean; rescale?: boolean } = {},
) {
  const { base, models: fts } = tiedModels(N, models, 7 + models, inputDtype);
  const m = mergeMethod(method)!;
  const semantics = SEMANTICS[semanticsName];
  const params = MODEL_PARAMS.slice(0, models).map((p, index) => ({ ...p, index }));
  const normalize =
    options.normalize ?? (m.globalParameters.find((g) => g.name === "normalize")!.default as boolean);
  const rescale =
    options.rescale ?? (m.globalParameters.find((g) => g.name === "rescale")!.default as boolean);
  const job = gtaJob(
    {
      method: m,
      semantics,
      working: w,
      outDtype: w,
      tensor: TENSOR,
      shape: SHAPE,
      models: params,
      normalize,
      rescale,
      lambda: options.lambda ?? 1,
      seed: SEED,
    },
    { base: raw(base, inputDtype), models: fts.map((v) => raw(v, inputDtype)) },
  );
  job.blockElements = 200;
  const out = new Uint8Array(N * (w === "F32" ? 4 : 2));
  const stats = await mergeGtaTensor(job, new InlineRunner(), out);
  const actual = decode(out, w);

  // The reference sees the inputs as mergekit does: cast to W on load.
  const baseW = base.map((v) => refRound(v, w));
  const ftsW = fts.map((v) => v.map((x) => refRound(x, w)));
  const perOp = semanticsName === "mergekit";
  const R = (x: number) => (perOp ? refRound(x, w) : Math.fround(x));
  const refModels = ftsW.map((values, i) => {
    const p = params[i]!;
    let mask: boolean[] | undefined;
    if (m.sparsification === "random") {
      const pk = perOp && w === "BF16" ? refRound(p.density, "BF16") : Math.fround(p.density);
      mask = dareMask(N, pk, i);
    } else if (m.sparsification === "della_magprune") {
      const delta = values.map((x, j) => R(x - baseW[j]!));
      mask = dellaMask(delta, SHAPE[1]!, p.density, p.epsilon, perOp && w === "BF16" ? "BF16" : "F32", i);
    }
    return { values, weight: p.weight, density: p.density, gamma: p.gamma, epsilon: p.epsilon, mask };
  });
  const expected = referenceGta({
    method,
    semantics: semanticsName,
    w,
    base: baseW,
    models: refModels,
    normalize,
    lambda: options.lambda ?? 1,
    rescale,
  });
  return { actual, expected, stats, params };
}

describe("task-arithmetic methods match the reference bit for bit", () => {
  for (const semantics of ["mergekit", "paper", "peft"] as const) {
    for (const [w, inputDtype] of DTYPE_PAIRS) {
      it(`${semantics}, working ${w}, inputs ${inputDtype}`, async () => {
        for (const method of GTA_METHODS) {
          for (const models of [2, 3]) {
            const { actual, expected } = await runGta(method, semantics, w, inputDtype, models);
            const diff = sameBits(actual, expected);
            expect(diff, `${method} with ${models} models`).toBeNull();
          }
        }
      });
    }
  }
});

describe("TIES details", () => {
  it("keeps exactly ⌊d·n⌋ elements per model in mergekit and peft semantics, even with ties", async () => {
    for (const semantics of ["mergekit", "peft"] as const) {
      const { stats, params } = await runGta("ties", semantics, "BF16", "BF16", 3);
      params.forEach((p, i) => {
        expect(stats.models[i]!.kept).toBe(Math.floor(p.density * N));
      });
    }
  });

  it("keeps every element at or above the threshold in paper semantics (more than k when tied)", async () => {
    const { stats, params } = await runGta("ties", "paper", "F32", "BF16", 2);
    params.forEach((p, i) => {
      expect(stats.models[i]!.kept).toBeGreaterThan(Math.floor(p.density * N));
    });
  });

  it("applies lambda and normalize: false like the reference", async () => {
    for (const semantics of ["mergekit", "paper", "peft"] as const) {
      const { actual, expected } = await runGta("ties", semantics, "BF16", "BF16", 3, {
        lambda: 1.7,
        normalize: false,
      });
      expect(sameBits(actual, expected)).toBeNull();
    }
  });

  it("applies rescale: true to magnitude trimming (L1 in mergekit, 1/d in peft)", async () => {
    for (const semantics of ["mergekit", "peft"] as const) {
      const { actual, expected } = await runGta("ties", semantics, "F16", "F16", 2, { rescale: true });
      expect(sameBits(actual, expected)).toBeNull();
    }
  });

  it("refuses a density that keeps nothing in mergekit semantics, and keeps nothing in peft", async () => {
    const m = mergeMethod("ties")!;
    const make = (semantics: SemanticsName) =>
      gtaJob(
        {
          method: m,
          semantics: SEMANTICS[semantics],
          working: "BF16",
          outDtype: "BF16",
          tensor: "model.norm.weight",
          shape: [8],
          models: [{ index: 0, weight: 1, density: 0.1 }],
          normalize: true,
          rescale: false,
          lambda: 1,
          seed: 0,
        },
        { base: raw(new Array(8).fill(1), "BF16"), models: [raw(new Array(8).fill(2), "BF16")] },
      );
    expect(() => make("mergekit")).toThrow(
      "model.norm.weight (model 0): density 0.1 keeps 0 of 8 elements (mergekit refuses this); raise the density or exclude the tensor with a filter",
    );
    const out = new Uint8Array(16);
    await mergeGtaTensor(make("peft"), new InlineRunner(), out);
    expect(decode(out, "BF16")).toEqual(new Array(8).fill(1));
  });

  it("merges an empty tensor to an empty tensor", async () => {
    const job = gtaJob(
      {
        method: mergeMethod("ties")!,
        semantics: SEMANTICS.mergekit,
        working: "BF16",
        outDtype: "BF16",
        tensor: "empty",
        shape: [0, 4],
        models: [{ index: 0, weight: 1, density: 0.5 }],
        normalize: true,
        rescale: false,
        lambda: 1,
        seed: 0,
      },
      { base: raw([], "BF16"), models: [raw([], "BF16")] },
    );
    const stats = await mergeGtaTensor(job, new InlineRunner(), new Uint8Array(0));
    expect(stats.numel).toBe(0);
    expect(stats.models[0]!.kept).toBe(0);
  });

  it("breaks ties at the threshold by lower flat index", async () => {
    // Every |δ| equal: keeping k of n must keep exactly the first k.
    const n = 1000;
    const job = gtaJob(
      {
        method: mergeMethod("ties")!,
        semantics: SEMANTICS.mergekit,
        working: "F32",
        outDtype: "F32",
        tensor: "t",
        shape: [n],
        models: [{ index: 0, weight: 1, density: 0.437 }],
        normalize: true,
        rescale: false,
        lambda: 1,
        seed: 0,
      },
      {
        base: raw(new Array(n).fill(0), "F32"),
        models: [
          raw(
            Array.from({ length: n }, (_, j) => (j % 2 ? 0.5 : -0.5)),
            "F32",
          ),
        ],
      },
    );
    job.blockElements = 96;
    const out = new Uint8Array(n * 4);
    await mergeGtaTensor(job, new InlineRunner(), out);
    const values = decode(out, "F32");
    const k = Math.floor(0.437 * n);
    values.forEach((v, j) => {
      expect(v).toBe(j < k ? (j % 2 ? 0.5 : -0.5) : 0);
    });
  });
});

describe("linear", () => {
  for (const [w, inputDtype] of DTYPE_PAIRS) {
    it(`matches the reference, working ${w}, inputs ${inputDtype}`, async () => {
      for (const semantics of ["mergekit", "peft"] as const) {
        for (const normalize of [true, false]) {
          const { base, models } = tiedModels(N, 2, 3, inputDtype);
          const all = [base, ...models];
          const weights = [0.2, 0.5, 0.3];
          const spec = linearSpec({
            method: mergeMethod("linear")!,
            semantics: SEMANTICS[semantics],
            working: w,
            outDtype: w,
            tensor: TENSOR,
            shape: SHAPE,
            models: weights.map((weight, index) => ({ index, weight, density: 1 })),
            normalize,
          });
          const out = new Uint8Array(N * (w === "F32" ? 4 : 2));
          await mergeLinearTensor(
            spec,
            all.map((v) => raw(v, inputDtype)),
            new InlineRunner(),
            out,
            300,
          );
          const expected = referenceLinear({
            w,
            semantics,
            normalize,
            models: all.map((v, i) => ({ values: v.map((x) => refRound(x, w)), weight: weights[i]! })),
          });
          expect(sameBits(decode(out, w), expected)).toBeNull();
        }
      }
    });
  }
});
