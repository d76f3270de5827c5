/**
 * Recording a merge as a tracker run (packages/tracker): by default (LETHE_TRACKER, local unless set;
 * `none` opts out), opened before the merge starts. Progress is logged as history rows while tensors are
 * merged; the totals go in the summary (so a sweep over TIES density sees `merge/...` metrics), the
 * per-layer, per-model numbers in a table, the input models and the merged checkpoint as artifacts.
 */
import type { JsonObject, Run } from "@lethe/tracker";
import { recordOutput } from "@lethe/tracker";
import type { MergeResult } from "../execute.js";
import type { MergeStats } from "../stats.js";
import { statsAsMetrics } from "../stats.js";

export const LAYER_TABLE_COLUMNS = [
  "layer",
  "model",
  "kept_fraction",
  "rejected_fraction",
  "l2_before",
  "l2_after",
  "sign_conflict_rate",
];

export function layerRows(stats: MergeStats): unknown[][] {
  return Object.entries(stats.layers).flatMap(([layer, group]) =>
    Object.entries(group.models).map(([model, m]) => [
      layer,
      model,
      m.kept_fraction,
      m.rejected_fraction,
      m.l2_before,
      m.l2_after,
      group.sign_conflict_rate,
    ]),
  );
}

/** The run config: the merge config as YAML typed it, plus the command's choices. */
export function mergeRunConfig(document: unknown, out: string, extra: JsonObject): JsonObject {
  return { out, ...(document as JsonObject), ...extra };
}

/** The results of a finished merge into its run. */
export function recordMerge(run: Run, result: MergeResult): void {
  const { "merge/layers": _layers, ...summary } = statsAsMetrics(result.stats, result.seconds);
  run.config.update({ semantics: result.plan.semantics.name, seed: result.plan.seed });
  run.summary(summary);
  run.table("merge_layers", LAYER_TABLE_COLUMNS, layerRows(result.stats));
  const parents = result.plan.sources.filter((s) => s.roles.length > 0).map((s) => s.uri);
  recordOutput(run, { uri: result.uri }, [...new Set(parents)], {
    method: result.plan.method.name,
    semantics: result.plan.semantics.name,
  });
}
