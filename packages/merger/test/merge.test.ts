/**
 * End to end: mergekit YAML → checkpoints on disk → streamed merge → published checkpoint, checked tensor
 * by tensor against the reference implementation with the parameters the config resolves to (gradients,
 * filters, per-model overrides), plus the output contract (shards, index, config.json, tokenizer, card).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { openCheckpoint } from "@lethe/core";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { configFromText } from "../src/config/load.js";
import { merge, planMerge } from "../src/execute.js";
import { formatPlan } from "../src/plan.js";
import { readModel, type TestTensor, tempDir, writeModel } from "./helpers/checkpoints.js";
import { referenceGta, refRound } from "./helpers/reference.js";
import { rng, sameBits } from "./helpers/tensors.js";

const dir = tempDir("merge");

function values(n: number, seed: number, scale = 0.1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => refRound((r() - 0.5) * scale, "BF16"));
}

/** A base and a fine-tune made from it by bf16 deltas on a coarse grid (ties at the trim threshold). */
function finetune(base: TestTensor[], seed: number): TestTensor[] {
  const r = rng(seed);
  return base.map((t) =>
    t.dtype === "BF16"
      ? { ...t, values: t.values.map((v) => refRound(v + (Math.floor(r() * 9) - 4) * 2 ** -8, "BF16")) }
      : t,
  );
}

const BASE: TestTensor[] = [
  { name: "model.embed_tokens.weight", dtype: "BF16", shape: [16, 8], values: values(128, 1) },
  { name: "model.layers.0.self_attn.q_proj.weight", dtype: "BF16", shape: [8, 8], values: values(64, 2) },
  { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [12, 8], values: values(96, 3) },
  { name: "model.layers.1.self_attn.q_proj.weight", dtype: "BF16", shape: [8, 8], values: values(64, 4) },
  { name: "model.layers.1.mlp.up_proj.weight", dtype: "BF16", shape: [12, 8], values: values(96, 5) },
  { name: "model.norm.weight", dtype: "BF16", shape: [8], values: values(8, 6, 2) },
  { name: "lm_head.weight", dtype: "BF16", shape: [16, 8], values: values(128, 7) },
  { name: "model.position_ids", dtype: "I64", shape: [4], values: [0, 1, 2, 3] },
];
const FT_A = finetune(BASE, 11);
const FT_B = finetune(BASE, 12);

const CONFIG = (base: string, a: string, b: string) => `
models:
  - model: ${base}
  - model: ${a}
    parameters:
      weight: 0.6
      density: [0.3, 0.7]
  - model: ${b}
    parameters:
      weight:
        - filter: mlp
          value: 0.25
        - value: 0.5
      density: 0.5
merge_method: ties
base_model: ${base}
parameters:
  normalize: true
  int8_mask: true
dtype: bfloat16
`;

/** What the config resolves to for each tensor: t = layer/(L-1), outside layers t = 0. */
function expectedParams(name: string) {
  const layer = /layers\.(\d+)\./.exec(name);
  const t = layer ? Number(layer[1]) / (2 - 1) : 0;
  return [
    { weight: 0.6, density: (1 - t) * 0.3 + t * 0.7 },
    { weight: name.includes("mlp") ? 0.25 : 0.5, density: 0.5 },
  ];
}

describe("merging checkpoints from a mergekit config", async () => {
  const base = await writeModel(path.join(dir, "base"), BASE, { tokenizer: true });
  const a = await writeModel(path.join(dir, "ft-a"), FT_A, { maxShardBytes: 300 });
  const b = await writeModel(path.join(dir, "ft-b"), FT_B);
  const { config, document } = configFromText(CONFIG(base, a, b), "ties.yml");

  it("merges every float tensor like the reference and copies the rest", async () => {
    const out = path.join(dir, "out-ties");
    const result = await merge(config, out, { threads: 1, configDocument: document });
    const merged = await readModel(out);
    expect([...merged.keys()].sort()).toEqual(BASE.map((t) => t.name).sort());
    for (const t of BASE) {
      const got = merged.get(t.name)!;
      if (t.dtype === "I64") {
        expect(got).toEqual({ dtype: "I64", shape: [4], values: [0, 1, 2, 3] });
        continue;
      }
      const params = expectedParams(t.name);
      const expected = referenceGta({
        method: "ties",
        semantics: "mergekit",
        w: "BF16",
        base: t.values,
        models: [FT_A, FT_B].map((ft, i) => ({
          values: ft.find((x) => x.name === t.name)!.values,
          ...params[i]!,
        })),
      });
      expect(got.dtype).toBe("BF16");
      expect(got.shape).toEqual(t.shape);
      expect(sameBits(got.values, expected), t.name).toBeNull();
    }
    expect(result.stats.merged_tensors).toBe(7);
    expect(result.stats.tensors).toBe(8);
  });

  it("publishes the checkpoint contract: weights, config.json, tokenizer, card, config, manifest", async () => {
    const out = path.join(dir, "out-contract");
    await merge(config, out, { threads: 1, configDocument: document, outShardBytes: 600 });
    const ck = await openCheckpoint(out);
    expect(ck.unverified).toBe(false);
    expect(ck.manifest!.stage).toBe("merge");
    expect(ck.manifest!.parents.sort()).toEqual([base, a, b].map((p) => `file://${p}`).sort());
    expect(ck.manifest!.parameters["merge_method"]).toBe("ties");
    expect(ck.manifest!.parameters["semantics"]).toBe("mergekit");
    const files = ck.manifest!.files.map((f) => f.path).sort();
    expect(files).toContain("model.safetensors.index.json");
    expect(files.filter((f) => /^model-0000\d-of-0000\d\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect(files).toEqual(
      expect.arrayContaining([
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "mergekit_config.yml",
      ]),
    );
    expect(ck.config!["torch_dtype"]).toBe("bfloat16");
    const card = readFileSync(path.join(out, "README.md"), "utf8");
    expect(card).toContain("merge_method: ties");
    expect(card).toContain("[TIES](https://arxiv.org/abs/2306.01708)");
    expect(parseYaml(readFileSync(path.join(out, "mergekit_config.yml"), "utf8"))).toEqual(document);
    const metrics = ck.manifest!.metrics;
    expect(metrics["merge/merged_tensors"]).toBe(7);
    const layers = metrics["merge/layers"] as Record<
      string,
      { models: Record<string, { kept_fraction: number }> }
    >;
    expect(Object.keys(layers)).toEqual(["0", "1", "other"]);
    // Layer 0 keeps density 0.3 of model a, layer 1 0.7: exact k per tensor.
    expect(layers["0"]!.models[a]!.kept_fraction).toBeCloseTo(
      (Math.floor(0.3 * 64) + Math.floor(0.3 * 96)) / 160,
      10,
    );
    expect(layers["1"]!.models[a]!.kept_fraction).toBeCloseTo(
      (Math.floor(0.7 * 64) + Math.floor(0.7 * 96)) / 160,
      10,
    );
  });

  it("refuses to publish over an existing checkpoint", async () => {
    const out = path.join(dir, "out-twice");
    await merge(config, out, { threads: 1 });
    await expect(merge(config, out, { threads: 1 })).rejects.toThrow("already holds a checkpoint");
  });

  it("prints a dry-run plan with the resolved per-tensor parameters", async () => {
    const text = formatPlan(await planMerge(config));
    expect(text).toContain("merge_method: ties (TIES), semantics: mergekit");
    expect(text).toContain(
      "model.layers.1.mlp.up_proj.weight [12,8] → BF16: merge, working BF16 (layer 1, t=1)",
    );
    expect(text).toContain(`    ${a}: weight 0.6, density 0.7`);
    expect(text).toContain(`    ${b}: weight 0.25, density 0.5`);
    expect(text).toContain("model.position_ids [4] → I64: copy");
  });
});
