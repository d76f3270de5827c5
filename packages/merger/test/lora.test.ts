/**
 * LoRA paths: PEFT's factor-wise TIES (what the SemEval ZJU system ran), its fold into the base, the
 * exact ΔW merge written as a full model or truncated back to an adapter, and `model+lora` inputs.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { configFromText } from "../src/config/load.js";
import { merge } from "../src/execute.js";
import { readModel, type TestTensor, tempDir, writeAdapter, writeModel } from "./helpers/checkpoints.js";
import { referenceGta, refRound } from "./helpers/reference.js";
import { rng, sameBits } from "./helpers/tensors.js";

const dir = tempDir("lora");
const R = 4;
const Q = "model.layers.0.self_attn.q_proj";
const V = "model.layers.0.self_attn.v_proj";
const OUT = 6;
const IN = 5;

function values(n: number, seed: number, scale: number, dtype: "BF16" | "F32" = "F32"): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const v = (Math.floor(r() * 11) - 5) * scale; // coarse grid: ties in the trim
    return dtype === "BF16" ? refRound(v, "BF16") : Math.fround(v);
  });
}

interface Factors {
  a: number[];
  b: number[];
}

function adapterTensors(modules: Record<string, Factors>): TestTensor[] {
  return Object.entries(modules).flatMap(([m, f]) => [
    { name: `base_model.model.${m}.lora_A.weight`, dtype: "F32" as const, shape: [R, IN], values: f.a },
    { name: `base_model.model.${m}.lora_B.weight`, dtype: "F32" as const, shape: [OUT, R], values: f.b },
  ]);
}

/** s·B·A accumulated in f64, rounded to f32 once (what the merger computes for ΔW). */
function delta(f: Factors, scaling: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < OUT; i++) {
    for (let j = 0; j < IN; j++) {
      let sum = 0;
      for (let k = 0; k < R; k++) sum += f.b[i * R + k]! * f.a[k * IN + j]!;
      out.push(Math.fround(sum * scaling));
    }
  }
  return out;
}

describe("merging LoRA adapters", async () => {
  const baseQ = values(OUT * IN, 1, 2 ** -6, "BF16");
  const baseV = values(OUT * IN, 2, 2 ** -6, "BF16");
  const baseUri = await writeModel(path.join(dir, "base"), [
    { name: `${Q}.weight`, dtype: "BF16", shape: [OUT, IN], values: baseQ },
    { name: `${V}.weight`, dtype: "BF16", shape: [OUT, IN], values: baseV },
    { name: "model.norm.weight", dtype: "BF16", shape: [IN], values: values(IN, 3, 0.1, "BF16") },
  ]);
  // Adapter 1 (α = 8: s = 2) on q and v; adapter 2 (α = 4: s = 1) on q only.
  const a1 = {
    [Q]: { a: values(R * IN, 10, 0.01), b: values(OUT * R, 11, 0.01) },
    [V]: { a: values(R * IN, 12, 0.01), b: values(OUT * R, 13, 0.01) },
  };
  const a2 = { [Q]: { a: values(R * IN, 20, 0.01), b: values(OUT * R, 21, 0.01) } };
  const adapterConfig = (r: number, alpha: number, modules: string[]) => ({
    peft_type: "LORA",
    r,
    lora_alpha: alpha,
    target_modules: modules,
    base_model_name_or_path: "base",
  });
  const ad1 = await writeAdapter(
    path.join(dir, "adapter-1"),
    adapterConfig(R, 8, ["q_proj", "v_proj"]),
    adapterTensors(a1),
  );
  const ad2 = await writeAdapter(
    path.join(dir, "adapter-2"),
    adapterConfig(R, 4, ["q_proj"]),
    adapterTensors(a2),
  );
  const scalings = [2, 1];
  const weights = [1.0, 0.6];
  const density = 0.8;
  const yaml = `
merge_method: ties
base_model: ${baseUri}
models:
  - model: ${ad1}
    parameters: {weight: ${weights[0]}, density: ${density}}
  - model: ${ad2}
    parameters: {weight: ${weights[1]}, density: ${density}}
`;
  const { config: cfg } = configFromText(yaml, "lora.yml");

  /** PEFT's factor-wise TIES on one factor: unweighted vote, count mean, weights √(w·s). */
  const factorMerge = (factors: number[][], present: number[]) =>
    referenceGta({
      method: "ties",
      semantics: "peft",
      w: "F32",
      base: new Array(factors[0]!.length).fill(0),
      models: factors.map((values, k) => ({
        values,
        weight: Math.sqrt(weights[present[k]!]! * scalings[present[k]!]!),
        density,
      })),
      inputsAreDeltas: true,
      addBase: false,
    });

  it("factor-wise (PEFT add_weighted_adapter ties): a rank-r adapter with lora_alpha = r", async () => {
    const out = path.join(dir, "factorwise");
    await merge(cfg, out, { threads: 1 });
    const merged = await readModel(out);
    const expectA = factorMerge([a1[Q]!.a, a2[Q]!.a], [0, 1]);
    const expectB = factorMerge([a1[Q]!.b, a2[Q]!.b], [0, 1]);
    expect(sameBits(merged.get(`base_model.model.${Q}.lora_A.weight`)!.values, expectA)).toBeNull();
    expect(sameBits(merged.get(`base_model.model.${Q}.lora_B.weight`)!.values, expectB)).toBeNull();
    // v_proj: only adapter 1 has it.
    expect(
      sameBits(merged.get(`base_model.model.${V}.lora_A.weight`)!.values, factorMerge([a1[V]!.a], [0])),
    ).toBeNull();
    const { readFileSync } = await import("node:fs");
    const written = JSON.parse(readFileSync(path.join(out, "adapter_config.json"), "utf8"));
    expect(written).toMatchObject({
      r: R,
      lora_alpha: R,
      target_modules: ["q_proj", "v_proj"],
      rank_pattern: {},
      alpha_pattern: {},
    });
  });

  it("factor-wise with fold: base + B·A of the merged adapter (scaling 1)", async () => {
    const out = path.join(dir, "fold");
    await merge(cfg, out, { threads: 1, fold: true });
    const merged = await readModel(out);
    const mergedQ = {
      a: factorMerge([a1[Q]!.a, a2[Q]!.a], [0, 1]),
      b: factorMerge([a1[Q]!.b, a2[Q]!.b], [0, 1]),
    };
    const d = delta(mergedQ, 1);
    const expected = baseQ.map((w, i) => refRound(Math.fround(w + d[i]!), "BF16"));
    expect(sameBits(merged.get(`${Q}.weight`)!.values, expected)).toBeNull();
    expect(merged.get("model.norm.weight")!.values).toEqual(values(IN, 3, 0.1, "BF16"));
  });

  it("delta (exact): TIES on ΔW = s·B·A per module, written as a full model", async () => {
    const out = path.join(dir, "delta");
    await merge(cfg, out, { threads: 1, lora: "delta" });
    const merged = await readModel(out);
    const expected = referenceGta({
      method: "ties",
      semantics: "peft",
      w: "BF16",
      base: baseQ,
      // ΔW arrives in f32 and is cast to the working dtype (the base's bf16) on load.
      models: [delta(a1[Q]!, 2), delta(a2[Q]!, 1)].map((v, k) => ({
        values: v.map((x) => refRound(x, "BF16")),
        weight: weights[k]!,
        density,
      })),
      inputsAreDeltas: true,
    });
    expect(sameBits(merged.get(`${Q}.weight`)!.values, expected)).toBeNull();
  });

  it("delta with --lora-rank: the merged ΔW truncated by SVD to a rank-r' adapter", async () => {
    const out = path.join(dir, "delta-svd");
    await merge(cfg, out, { threads: 1, lora: "delta", loraRank: 2 });
    const merged = await readModel(out);
    const a = merged.get(`base_model.model.${Q}.lora_A.weight`)!;
    const b = merged.get(`base_model.model.${Q}.lora_B.weight`)!;
    expect(a.shape).toEqual([2, IN]);
    expect(b.shape).toEqual([OUT, 2]);
    const m = referenceGta({
      method: "ties",
      semantics: "peft",
      w: "F32",
      base: new Array(OUT * IN).fill(0),
      models: [delta(a1[Q]!, 2), delta(a2[Q]!, 1)].map((v, k) => ({
        values: v,
        weight: weights[k]!,
        density,
      })),
      inputsAreDeltas: true,
      addBase: false,
    });
    // The optimal rank-2 error from the eigenvalues of MᵀM (power iteration with deflation, here).
    const mtm = Array.from({ length: IN * IN }, (_, idx) => {
      const [p, q] = [Math.floor(idx / IN), idx % IN];
      let s = 0;
      for (let i = 0; i < OUT; i++) s += m[i * IN + p]! * m[i * IN + q]!;
      return s;
    });
    const eig: number[] = [];
    const mat = mtm.slice();
    for (let e = 0; e < 2; e++) {
      let v = Array.from({ length: IN }, (_, i) => 1 + i);
      let lambda = 0;
      for (let it = 0; it < 2000; it++) {
        const w = v.map((_, i) => v.reduce((acc, x, j) => acc + mat[i * IN + j]! * x, 0));
        lambda = Math.hypot(...w);
        v = w.map((x) => x / lambda);
      }
      eig.push(lambda);
      for (let i = 0; i < IN; i++) for (let j = 0; j < IN; j++) mat[i * IN + j]! -= lambda * v[i]! * v[j]!;
    }
    const total = m.reduce((acc, x) => acc + x * x, 0);
    const optimal = Math.sqrt(Math.max(0, total - eig[0]! - eig[1]!));
    let err = 0;
    for (let i = 0; i < OUT; i++) {
      for (let j = 0; j < IN; j++) {
        let approx = 0;
        for (let k = 0; k < 2; k++) approx += b.values[i * 2 + k]! * a.values[k * IN + j]!;
        err += (m[i * IN + j]! - approx) ** 2;
      }
    }
    expect(Math.sqrt(err)).toBeCloseTo(optimal, 6);
  });

  it("model+lora: the adapter is folded into its model before the merge", async () => {
    const ftUri = await writeModel(path.join(dir, "ft"), [
      {
        name: `${Q}.weight`,
        dtype: "BF16",
        shape: [OUT, IN],
        values: baseQ.map((x, i) => refRound(x + (i % 3) * 2 ** -7, "BF16")),
      },
      { name: `${V}.weight`, dtype: "BF16", shape: [OUT, IN], values: baseV },
      { name: "model.norm.weight", dtype: "BF16", shape: [IN], values: values(IN, 3, 0.1, "BF16") },
    ]);
    const { config } = configFromText(
      `
merge_method: task_arithmetic
base_model: ${baseUri}
dtype: bfloat16
models:
  - model: ${ftUri}+${ad1}
    parameters: {weight: 0.5}
`,
      "fold.yml",
    );
    const out = path.join(dir, "model-plus-lora");
    await merge(config, out, { threads: 1 });
    const merged = await readModel(out);
    const ft = (await readModel(ftUri)).get(`${Q}.weight`)!.values;
    const d = delta(a1[Q]!, 2);
    const folded = ft.map((w, i) => refRound(Math.fround(w + d[i]!), "BF16"));
    const expected = referenceGta({
      method: "task_arithmetic",
      semantics: "mergekit",
      w: "BF16",
      base: baseQ,
      models: [{ values: folded, weight: 0.5 }],
    });
    expect(sameBits(merged.get(`${Q}.weight`)!.values, expected)).toBeNull();
  });

  it("refuses mixing adapters with full models and ranks that differ in factor-wise mode", async () => {
    const { config } = configFromText(
      `
merge_method: ties
base_model: ${baseUri}
models:
  - model: ${ad1}
    parameters: {weight: 1, density: 0.5}
  - model: ${baseUri}+${ad2}
    parameters: {weight: 1, density: 0.5}
`,
      "mixed.yml",
    );
    await expect(merge(config, path.join(dir, "mixed"), { threads: 1 })).rejects.toThrow(
      `models.1: ${baseUri}+${ad2} is a full model, but other inputs are LoRA adapters; fold an adapter into its model with the MODEL+LORA form instead`,
    );
    const r8 = await writeAdapter(path.join(dir, "adapter-r8"), adapterConfig(8, 8, ["q_proj"]), [
      {
        name: `base_model.model.${Q}.lora_A.weight`,
        dtype: "F32",
        shape: [8, IN],
        values: values(8 * IN, 30, 0.01),
      },
      {
        name: `base_model.model.${Q}.lora_B.weight`,
        dtype: "F32",
        shape: [OUT, 8],
        values: values(OUT * 8, 31, 0.01),
      },
    ]);
    const ranks = configFromText(yaml.replace(ad2, r8), "ranks.yml").config;
    await expect(merge(ranks, path.join(dir, "ranks"), { threads: 1 })).rejects.toThrow(
      `${Q}.weight: factor-wise merging needs one rank, the adapters have 4, 8 (use --lora delta)`,
    );
  });
});
