import { FormatError } from "@lethe/core";
import { loadNllRows, loadPredictionRows } from "./io/prediction-rows.js";
import { buildReport, type EvalReport } from "./report.js";
import type { ScoreOptions } from "./scores/task-scores.js";

export interface ScoreFilesInput {
  /** Prediction files: dataset rows plus `generation`. */
  forget: string;
  retain: string;
  /** `{id, nll}` files; both or neither. */
  miaMember?: string;
  miaNonmember?: string;
  /** MMLU accuracy in [0, 1], measured elsewhere (open-instruct's `average_acc`). */
  mmluAccuracy?: number;
}

/** Score generations made by any system: the `lethe-eval score` command as a function. */
export async function scoreFiles(input: ScoreFilesInput, options: ScoreOptions = {}): Promise<EvalReport> {
  if ((input.miaMember === undefined) !== (input.miaNonmember === undefined)) {
    throw new FormatError("MIA needs both a member and a non-member NLL file");
  }
  if (input.mmluAccuracy !== undefined) checkAccuracy(input.mmluAccuracy);
  const [forget, retain] = await Promise.all([
    loadPredictionRows(input.forget, "forget"),
    loadPredictionRows(input.retain, "retain"),
  ]);
  let memberNll: number[] | undefined;
  let nonmemberNll: number[] | undefined;
  if (input.miaMember !== undefined && input.miaNonmember !== undefined) {
    const [members, nonmembers] = await Promise.all([
      loadNllRows(input.miaMember),
      loadNllRows(input.miaNonmember),
    ]);
    memberNll = members.map((r) => r.nll);
    nonmemberNll = nonmembers.map((r) => r.nll);
  }
  return buildReport(
    {
      forget,
      retain,
      ...(memberNll !== undefined && nonmemberNll !== undefined ? { memberNll, nonmemberNll } : {}),
      ...(input.mmluAccuracy !== undefined ? { mmlu: input.mmluAccuracy } : {}),
    },
    options,
  );
}

export function checkAccuracy(value: number): void {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new FormatError(`MMLU accuracy must be a number in [0, 1], got ${value}`);
  }
}
