import type { EvalReport } from "./report.js";

export type SummaryValue = number | boolean | null;
export type TableCell = string | number | boolean | null;

/**
 * Where scores go besides eval.json: the tracker (or anything else) implements this. Scores are summary
 * values; layer-wise numbers and the aggregate terms are tables.
 */
export interface EvalLogger {
  summary(values: Record<string, SummaryValue>): void | Promise<void>;
  table(name: string, columns: string[], rows: TableCell[][]): void | Promise<void>;
}

/** The flat summary keys of a report: `eval/final`, `eval/forget/Task1/regurgitation`, ... */
export function reportSummary(report: EvalReport, prefix = "eval/"): Record<string, SummaryValue> {
  const out: Record<string, SummaryValue> = {
    [`${prefix}task_aggregate`]: report.task_aggregate,
    [`${prefix}mia_auc`]: report.mia_auc,
    [`${prefix}mia_score`]: report.mia_score,
    [`${prefix}mmlu`]: report.mmlu,
    [`${prefix}final`]: report.final,
    [`${prefix}mmlu_gate_passed`]: report.mmlu_gate_passed,
  };
  for (const split of ["forget", "retain"] as const) {
    for (const [task, cell] of Object.entries(report[split])) {
      out[`${prefix}${split}/${task}/regurgitation`] = cell.regurgitation;
      out[`${prefix}${split}/${task}/knowledge`] = cell.knowledge;
    }
  }
  return out;
}

/**
 * Send a report to a logger: one summary call, then one table per layer-wise view. Table names become file
 * names in a local run, so they use dots where summary keys use slashes: `eval.layers.residual`.
 */
export async function logReport(report: EvalReport, logger: EvalLogger, prefix = "eval/"): Promise<void> {
  await logger.summary(reportSummary(report, prefix));
  const table = (name: string): string => `${prefix}${name}`.replaceAll("/", ".");
  await logger.table(
    table("task_aggregate_terms"),
    ["split", "task", "metric", "value", "term"],
    report.task_aggregate_terms.map((t) => [t.split, t.task, t.metric, t.value, t.term]),
  );
  const layers = report.layers;
  if (layers === undefined) return;
  await logger.table(
    table("layers/residual"),
    ["layer", "forget_cosine", "retain_cosine", "forget_norm_ratio", "retain_norm_ratio"],
    layers.residual.map((r) => [
      r.layer,
      r.forget_cosine,
      r.retain_cosine,
      r.forget_norm_ratio,
      r.retain_norm_ratio,
    ]),
  );
  await logger.table(
    table("layers/weight_delta"),
    ["layer", "module", "delta_norm", "base_norm", "relative"],
    layers.weights.map((w) => [w.layer, w.module, w.delta_norm, w.base_norm, w.relative]),
  );
}
