/**
 * Recording a merge as a tracker run (packages/tracker) when one is configured: LETHE_TRACKER is set, or the
 * merge runs as a W&B sweep trial (WANDB_SWEEP_ID). The totals go in the summary (so a sweep over TIES
 * density sees `merge/...` metrics), the per-layer, per-model numbers in a table.
 */
import { startRun } from "@lethe/tracker";
import { type MergeStats, statsAsMetrics } from "../stats.js";

export function trackerConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env["LETHE_TRACKER"] ?? "").trim() !== "" || (env["WANDB_SWEEP_ID"] ?? "") !== "";
}

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

/** Returns the run's directory (local backend), or null. */
export async function trackMerge(
  config: Record<string, unknown>,
  stats: MergeStats,
  seconds: number,
): Promise<string | null> {
  const run = await startRun({ project: "lethe", job_type: "merge", config, exitHandlers: false });
  try {
    const { "merge/layers": _layers, ...summary } = statsAsMetrics(stats, seconds);
    run.summary(summary);
    run.table("merge_layers", LAYER_TABLE_COLUMNS, layerRows(stats));
  } catch (err) {
    await run.finish(1);
    throw err;
  }
  await run.finish(0);
  return run.dir;
}
