/**
 * Mismatch policies (merging.md §1.7, §7): embeddings cropped or padded to the base, other shape
 * mismatches skip the model for that tensor, missing tensors are an error unless --tensor-union or
 * --tensor-intersection, a tied lm_head falls back to the input embedding, non-float tensors are copied.
 * Expected values come from the reference run on the inputs the policy says should be used.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { configFromText } from "../src/config/load.js";
import { merge, planMerge } from "../src/execute.js";
import { readModel, type TestTensor, tempDir, writeModel } from "./helpers/checkpoints.js";
import { referenceGta, referenceLinear, refRound } from "./helpers/reference.js";
import { rng, sameBits } from "./helpers/tensors.js";

const dir = tempDir("policies");

function values(n: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => refRound((r() - 0.5) * 0.1, "BF16"));
}

function shifted(v: number[], seed: number): number[] {
  const r = rng(seed);
  return v.map((x) => refRound(x + (Math.floor(r() * 7) - 3) * 2 ** -8, "BF16"));
}

const EMBED = "model.embed_tokens.weight";
const Q = "model.layers.0.self_attn.q_proj.weight";
const UP = "model.layers.0.mlp.up_proj.weight";
const HEAD = "lm_head.weight";

const base = {
  embed: values(10 * 4, 1),
  q: values(16, 2),
  up: values(24, 3),
  head: values(10 * 4, 4),
};

function t(name: string, shape: number[], v: number[], dtype: TestTensor["dtype"] = "BF16"): TestTensor {
  return { name, dtype, shape, values: v };
}

describe("mismatch policies", async () => {
  const baseUri = await writeModel(path.join(dir, "base"), [
    t(EMBED, [10, 4], base.embed),
    t(Q, [4, 4], base.q),
    t(UP, [6, 4], base.up),
    t(HEAD, [10, 4], base.head),
    t("model.rotary_emb.inv_freq_ids", [3], [7, 8, 9], "I64"),
  ]);
  // a: two extra vocabulary rows, no lm_head (tied), an up_proj of another shape.
  const aEmbed = [...shifted(base.embed, 11), ...values(8, 12)];
  const aQ = shifted(base.q, 13);
  const aUp = values(28, 14);
  const aUri = await writeModel(path.join(dir, "a"), [
    t(EMBED, [12, 4], aEmbed),
    t(Q, [4, 4], aQ),
    t(UP, [7, 4], aUp),
  ]);
  // b: two fewer vocabulary rows, its own lm_head, everything else normal, plus a tensor nobody else has.
  const bEmbed = shifted(base.embed.slice(0, 32), 15);
  const bQ = shifted(base.q, 16);
  const bUp = shifted(base.up, 17);
  const bHead = shifted(base.head, 18);
  const bUri = await writeModel(path.join(dir, "b"), [
    t(EMBED, [8, 4], bEmbed),
    t(Q, [4, 4], bQ),
    t(UP, [6, 4], bUp),
    t(HEAD, [10, 4], bHead),
    t("score.weight", [2, 4], values(8, 19)),
  ]);
  const yaml = `
merge_method: ties
base_model: ${baseUri}
models:
  - model: ${aUri}
    parameters: {weight: 0.5, density: 0.5}
  - model: ${bUri}
    parameters: {weight: 0.5, density: 0.5}
`;
  const { config } = configFromText(yaml, "policies.yml");
  const ref = (baseValues: number[], models: number[][]) =>
    referenceGta({
      method: "ties",
      semantics: "mergekit",
      w: "BF16",
      base: baseValues,
      models: models.map((v) => ({ values: v, weight: 0.5, density: 0.5 })),
    });

  it("is an error by default when a model lacks a tensor", async () => {
    await expect(planMerge(config)).rejects.toThrow(
      `Tensor score.weight required but not present in model ${baseUri}. Use --tensor-union to merge what exists or --tensor-intersection to leave such tensors out`,
    );
  });

  it("--tensor-union: crops, pads, skips, falls back to tied embeddings and copies", async () => {
    const out = path.join(dir, "union");
    const warnings: string[] = [];
    const result = await merge(config, out, { threads: 1, coverage: "union", log: (l) => warnings.push(l) });
    const merged = await readModel(out);
    // Every tensor is counted, the copied ones too.
    expect(result.stats.tensors).toBe(result.plan.tensors.length);
    expect(result.stats.merged_tensors).toBe(result.plan.tensors.filter((t) => t.action !== "copy").length);
    expect(result.stats.merged_tensors).toBeLessThan(result.stats.tensors);

    // Embedding: a's extra rows cropped; b's missing rows padded with the base's (a zero delta).
    const aCropped = aEmbed.slice(0, 40);
    const bPadded = [...bEmbed, ...base.embed.slice(32)];
    expect(sameBits(merged.get(EMBED)!.values, ref(base.embed, [aCropped, bPadded]))).toBeNull();
    expect(merged.get(EMBED)!.shape).toEqual([10, 4]);

    // up_proj: a's [7, 4] cannot be cropped (not an embedding): only b is merged.
    expect(sameBits(merged.get(UP)!.values, ref(base.up, [bUp]))).toBeNull();
    expect(warnings).toContain(`warning: ${UP}: skipping ${aUri}: shape [7,4] differs from the base's [6,4]`);

    // lm_head: a has none, so its tied input embedding (cropped to the base's rows) stands in.
    expect(sameBits(merged.get(HEAD)!.values, ref(base.head, [aCropped, bHead]))).toBeNull();

    // score.weight: not in the base: copied from the only model that has it.
    expect(merged.get("score.weight")!.values).toEqual(values(8, 19));
    expect(merged.get("model.rotary_emb.inv_freq_ids")).toEqual({
      dtype: "I64",
      shape: [3],
      values: [7, 8, 9],
    });
    expect(sameBits(merged.get(Q)!.values, ref(base.q, [aQ, bQ]))).toBeNull();
  });

  it("--tensor-intersection leaves out tensors that some model lacks", async () => {
    const out = path.join(dir, "intersection");
    await merge(config, out, { threads: 1, coverage: "intersection" });
    const merged = await readModel(out);
    expect(merged.has("score.weight")).toBe(false);
    // lm_head is not missing from a: its tied embedding counts.
    expect([...merged.keys()].sort()).toEqual([EMBED, HEAD, UP, Q, "model.rotary_emb.inv_freq_ids"].sort());
  });

  it("explains skipped models in the dry-run plan", async () => {
    const { formatPlan } = await import("../src/plan.js");
    const text = formatPlan(await planMerge(config, { coverage: "union" }));
    expect(text).toContain(`    skipped ${aUri}: shape [7,4] differs from the base's [6,4]`);
    expect(text).toContain(
      `    note: ${aUri} has no lm_head.weight: using its tied model.embed_tokens.weight`,
    );
    expect(text).toContain(`    note: ${bUri}: [8,4] cropped/padded with the base's rows to [10,4]`);
    expect(text).toContain("    note: not in the base: copied from");
  });

  it("linear crops embeddings to the common submatrix and skips other mismatches", async () => {
    const linear = configFromText(
      `
merge_method: linear
models:
  - model: ${aUri}
    parameters: {weight: 1}
  - model: ${bUri}
    parameters: {weight: 3}
`,
      "linear.yml",
    ).config;
    const out = path.join(dir, "linear");
    await merge(linear, out, { threads: 1, coverage: "union" });
    const merged = await readModel(out);
    const emb = merged.get(EMBED)!;
    expect(emb.shape).toEqual([8, 4]);
    const expected = referenceLinear({
      w: "BF16",
      semantics: "mergekit",
      models: [
        { values: aEmbed.slice(0, 32), weight: 1 },
        { values: bEmbed, weight: 3 },
      ],
    });
    expect(sameBits(emb.values, expected)).toBeNull();
  });
});
