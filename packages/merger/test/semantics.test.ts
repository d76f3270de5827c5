/**
 * Whole-model behaviours: the paper's global trim, --exact-f32-accumulate, DARE's kept fraction, and the
 * errors a bad config meets once the models are open.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { configFromText } from "../src/config/load.js";
import { merge, planMerge } from "../src/execute.js";
import { readModel, type TestTensor, tempDir, writeModel } from "./helpers/checkpoints.js";
import { referenceGta, refRound } from "./helpers/reference.js";
import { rng, sameBits } from "./helpers/tensors.js";

const dir = tempDir("semantics");

function tensors(seed: number, base?: TestTensor[]): TestTensor[] {
  const r = rng(seed);
  const shapes: [string, number[]][] = [
    ["model.layers.0.mlp.up_proj.weight", [12, 10]],
    ["model.layers.1.mlp.up_proj.weight", [12, 10]],
    ["model.norm.weight", [10]],
  ];
  return shapes.map(([name, shape], k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // Layer 1's deltas are four times larger: a global threshold trims layer 0 much harder.
    const scale = name.includes("layers.1") ? 4 : 1;
    const values = base
      ? base[k]!.values.map((v) => refRound(v + (Math.floor(r() * 9) - 4) * 2 ** -9 * scale, "BF16"))
      : Array.from({ length: n }, () => refRound((r() - 0.5) * 0.2, "BF16"));
    return { name, dtype: "BF16" as const, shape, values };
  });
}

describe("semantics over whole models", async () => {
  const base = tensors(1);
  const fts = [tensors(2, base), tensors(3, base)];
  const baseUri = await writeModel(path.join(dir, "base"), base);
  const uris = [
    await writeModel(path.join(dir, "a"), fts[0]!),
    await writeModel(path.join(dir, "b"), fts[1]!),
  ];
  const yaml = (method: string, extra = "") => `
merge_method: ${method}
base_model: ${baseUri}
models:
  - model: ${uris[0]}
    parameters: {weight: 1, density: 0.3${extra}}
  - model: ${uris[1]}
    parameters: {weight: 1, density: 0.3${extra}}
`;

  it("paper: one threshold per model over all its elements (ties-merging flattens the model)", async () => {
    const { config } = configFromText(yaml("ties"), "paper.yml");
    const out = path.join(dir, "paper-global");
    await merge(config, out, { threads: 1, semantics: "paper" });
    const merged = await readModel(out);
    // δ in f32 (paper arithmetic) over every tensor; the threshold is the (⌊0.3·N⌋+1)-th largest |δ|.
    const thresholds = fts.map((ft) => {
      const all = ft.flatMap((t, k) =>
        t.values.map((x, j) => Math.abs(Math.fround(x - base[k]!.values[j]!))),
      );
      all.sort((x, y) => y - x);
      return all[Math.floor(0.3 * all.length)]!;
    });
    for (const [k, t] of base.entries()) {
      const expected = referenceGta({
        method: "ties",
        semantics: "paper",
        w: "BF16",
        base: t.values,
        models: fts.map((ft, i) => ({
          values: ft[k]!.values,
          weight: 1,
          density: 0.3,
          threshold: thresholds[i]!,
        })),
      });
      expect(sameBits(merged.get(t.name)!.values, expected), t.name).toBeNull();
    }
    // The per-tensor scope is a different merge.
    const perTensor = path.join(dir, "paper-tensor");
    await merge(config, perTensor, { threads: 1, semantics: "paper", trimScope: "tensor" });
    const layer0 = "model.layers.0.mlp.up_proj.weight";
    expect((await readModel(perTensor)).get(layer0)!.values).not.toEqual(merged.get(layer0)!.values);
  });

  it("--exact-f32-accumulate: mergekit's rules with f32 intermediates", async () => {
    const { config } = configFromText(yaml("ties"), "f32.yml");
    const out = path.join(dir, "f32");
    await merge(config, out, { threads: 1, exactF32Accumulate: true });
    const merged = await readModel(out);
    for (const [k, t] of base.entries()) {
      const expected = referenceGta({
        method: "ties",
        semantics: "mergekit",
        f32: true,
        w: "BF16",
        base: t.values,
        models: fts.map((ft) => ({ values: ft[k]!.values, weight: 1, density: 0.3 })),
      });
      expect(sameBits(merged.get(t.name)!.values, expected), t.name).toBeNull();
    }
  });

  it("DARE keeps about `density` of each task vector", async () => {
    const big: TestTensor[] = [
      {
        name: "w",
        dtype: "BF16",
        shape: [200, 100],
        values: Array.from({ length: 20000 }, (_, i) => ((i % 13) - 6) / 64),
      },
    ];
    const tuned: TestTensor[] = [
      { ...big[0]!, values: big[0]!.values.map((v, i) => v + (i % 2 ? 1 : -1) / 256) },
    ];
    const b = await writeModel(path.join(dir, "dare-base"), big, { config: null });
    const a = await writeModel(path.join(dir, "dare-a"), tuned, { config: null });
    const { config } = configFromText(
      `merge_method: dare_linear\nbase_model: ${b}\nmodels:\n  - model: ${a}\n    parameters: {weight: 1, density: 0.3}\n`,
      "dare.yml",
    );
    const result = await merge(config, path.join(dir, "dare"), { threads: 1 });
    const kept = result.stats.total.models[a]!.kept_fraction;
    // Binomial(20000, p) with p = bf16(0.3) = 0.30078125: within 5 standard deviations.
    expect(Math.abs(kept - 0.30078125)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / 20000));
  });

  it("reports config errors that need the models", async () => {
    await expect(planMerge(configFromText(yaml("tie"), "x.yml").config)).rejects.toThrow(
      'merge_method: unknown merge method "tie" (known: linear, task_arithmetic, ties, dare_ties, dare_linear, breadcrumbs, breadcrumbs_ties, della, della_linear); did you mean "ties"?',
    );
    const noBase = configFromText(yaml("ties").replace(`base_model: ${baseUri}\n`, ""), "x.yml").config;
    await expect(planMerge(noBase)).rejects.toThrow("base_model: required by merge_method ties");
    const noWeight = configFromText(yaml("ties").replace("weight: 1, ", ""), "x.yml").config;
    await expect(planMerge(noWeight)).rejects.toThrow(
      `Missing required parameter weight for ${uris[0]}.model.layers.0.mlp.up_proj.weight`,
    );
    const della = configFromText(yaml("della", ", epsilon: 0.4"), "x.yml").config;
    await expect(merge(della, path.join(dir, "della-bad"), { threads: 1 })).rejects.toThrow(
      "model.layers.0.mlp.up_proj.weight (model 0): epsilon 0.4 must keep density ± epsilon inside (0, 1) (density is 0.3)",
    );
    const missing = configFromText(
      yaml("ties").replace(`- model: ${uris[1]}\n`, `- model: ${path.join(dir, "nowhere")}\n`),
      "x.yml",
    ).config;
    await expect(planMerge(missing)).rejects.toThrow(`model "${path.join(dir, "nowhere")}":`);
  });
});
