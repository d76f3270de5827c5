/**
 * The TIES paper's trim over the whole model (ties-merging flattens every parameter into one vector per
 * task): one threshold per model, the (⌊d·N⌋+1)-th largest |δ| over all N merged elements, and every
 * element at or above it kept. Needs a pass over all inputs before the merge (two when the threshold's
 * histogram bin must be refined). The vote's zero tie-break stays per tensor.
 */

import { ConfigError } from "./config/schema.js";
import { blocksOf } from "./engine/blocks.js";
import { type BlockRunner, BufferScope } from "./engine/runner.js";
import { gtaJob, shapeNumel } from "./engine/tensor-job.js";
import { loadTensor } from "./load-tensor.js";
import type { MergePlan, PlannedTensor } from "./plan.js";
import type { ModelSource } from "./sources.js";
import {
  accumulate,
  type Cut,
  HIGH_BINS,
  keepAllTies,
  LOW_BINS,
  SELECT_ALL,
  selectFirstLevel,
  selectSecondLevel,
} from "./sparsify/magnitude-select.js";

export async function globalPaperCuts(
  plan: MergePlan,
  sources: readonly ModelSource[],
  runner: BlockRunner,
): Promise<Map<string, (Cut | null)[]>> {
  const merged = plan.tensors.filter((t) => t.action === "merge");
  const density = new Map<number, number>();
  const elements = new Map<number, number>();
  for (const t of merged) {
    for (const input of t.inputs) {
      const { index, density: d } = input.parameters!;
      const seen = density.get(index);
      if (seen !== undefined && seen !== d) {
        throw new ConfigError(
          `models.${index}: the paper's global trim needs one density per model, but ${t.name} uses ${d} and another tensor ${seen} (use --trim-scope tensor)`,
        );
      }
      density.set(index, d);
      elements.set(index, (elements.get(index) ?? 0) + shapeNumel(t.shape));
    }
  }
  const trimmed = [...density].filter(([, d]) => d < 1).map(([index]) => index);
  const result = new Map<string, (Cut | null)[]>();
  if (trimmed.length === 0) return result;

  const scan = async (
    visit: (t: PlannedTensor, models: number[], job: ReturnType<typeof gtaJob>) => Promise<void>,
  ) => {
    for (const t of merged) {
      const models = t.inputs.map((i) => i.parameters!.index);
      const scope = new BufferScope(runner);
      try {
        const loaded = await loadTensor(t, sources, (n) => scope.allocate(n));
        const job = gtaJob(
          {
            method: plan.method,
            semantics: plan.semantics,
            working: t.working!,
            outDtype: t.dtype as "F32",
            tensor: t.name,
            shape: t.shape,
            models: t.inputs.map((i) => ({ ...i.parameters!, density: 1 })),
            normalize: t.global.normalize,
            rescale: false,
            lambda: t.global.lambda,
            seed: plan.seed,
          },
          loaded,
        );
        await visit(t, models, job);
      } finally {
        scope.releaseAll();
      }
    }
  };

  const high = new Map(trimmed.map((i) => [i, new Float64Array(HIGH_BINS)]));
  await scan(async (t, models, job) => {
    const which = models.flatMap((index, k) => (high.has(index) ? [k] : []));
    if (which.length === 0) return;
    const blocks = blocksOf(shapeNumel(t.shape));
    const hists = await runner.map(
      "scanMagnitudes",
      blocks.map((b) => [job.spec, job.inputs, b.start, b.end, which] as const),
    );
    for (const block of hists) {
      which.forEach((k, w) => {
        accumulate(high.get(models[k]!)!, block[w]!);
      });
    }
  });

  const cuts = new Map<number, Cut>();
  const pendingBins = new Map<number, { bin: number; needed: number }>();
  for (const index of trimmed) {
    const n = elements.get(index)!;
    const m = Math.floor(density.get(index)! * n) + 1;
    if (m >= n) {
      cuts.set(index, SELECT_ALL);
      continue;
    }
    const first = selectFirstLevel(high.get(index)!, n, m, false);
    if (first.done) cuts.set(index, keepAllTies(first.cut, first.tied));
    else pendingBins.set(index, { bin: first.bin, needed: first.needed });
  }
  if (pendingBins.size > 0) {
    const low = new Map([...pendingBins.keys()].map((i) => [i, new Float64Array(LOW_BINS)]));
    await scan(async (t, models, job) => {
      const which = models.flatMap((index, k) =>
        pendingBins.has(index) ? [{ model: k, bin: pendingBins.get(index)!.bin }] : [],
      );
      if (which.length === 0) return;
      const blocks = blocksOf(shapeNumel(t.shape));
      const hists = await runner.map(
        "scanLowBits",
        blocks.map((b) => [job.spec, job.inputs, b.start, b.end, which] as const),
      );
      for (const block of hists) {
        which.forEach((w, k) => {
          accumulate(low.get(models[w.model]!)!, block[k]!);
        });
      }
    });
    for (const [index, { bin, needed }] of pendingBins) {
      const second = selectSecondLevel(bin, low.get(index)!, needed);
      cuts.set(index, keepAllTies(second.cut, second.tied));
    }
  }
  for (const t of merged)
    result.set(
      t.name,
      t.inputs.map((i) => cuts.get(i.parameters!.index) ?? null),
    );
  return result;
}
