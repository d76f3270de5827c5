import type { LayerAnalysis } from "./layers/types.js";
import { type AggregateTerm, taskAggregate } from "./scores/aggregate.js";
import { finalScore, MMLU_GATE_7B, mmluGatePassed } from "./scores/final.js";
import { miaAuc, miaScore } from "./scores/mia.js";
import { type GeneratedRow, type ScoreOptions, type SplitScores, splitScores } from "./scores/task-scores.js";

/** The contents of `eval.json`. Scores that could not be computed (no MIA data, no MMLU) are null. */
export interface EvalReport {
  task_aggregate: number | null;
  mia_auc: number | null;
  mia_score: number | null;
  mmlu: number | null;
  /** mean(task_aggregate, mia_score, mmlu); null unless all three are known (the official script writes -1). */
  final: number | null;
  /** MMLU > 0.371 (the 7B award gate); null without MMLU. */
  mmlu_gate_passed: boolean | null;
  /** Per-task means as measured (forget values not inverted). */
  forget: SplitScores;
  retain: SplitScores;
  /** The numbers behind the task aggregate, in the official order, forget ones inverted in `term`. */
  task_aggregate_terms: AggregateTerm[];
  mia_members: number | null;
  mia_nonmembers: number | null;
  mmlu_gate: number;
  /** How the text scores were computed. */
  scoring: { pandas_csv_quirk: boolean };
  warnings: string[];
  /** Layer-wise analysis against a base checkpoint, when requested. */
  layers?: LayerAnalysis;
}

export interface ReportInputs {
  forget: readonly GeneratedRow[];
  retain: readonly GeneratedRow[];
  /** Mean token NLL of every member / non-member document (both or neither). */
  memberNll?: readonly number[];
  nonmemberNll?: readonly number[];
  /** MMLU accuracy in [0, 1]. */
  mmlu?: number;
  layers?: LayerAnalysis;
}

export function buildReport(inputs: ReportInputs, options: ScoreOptions = {}): EvalReport {
  const forget = splitScores(inputs.forget, options);
  const retain = splitScores(inputs.retain, options);
  const aggregate = taskAggregate(forget, retain);
  const warnings = [...aggregate.warnings];

  let auc: number | null = null;
  if (inputs.memberNll !== undefined && inputs.nonmemberNll !== undefined) {
    auc = miaAuc(inputs.memberNll, inputs.nonmemberNll);
  } else {
    warnings.push("no MIA data: mia_auc, mia_score and final are null");
  }
  const mia = auc === null ? null : miaScore(auc);
  const mmlu = inputs.mmlu ?? null;
  if (mmlu === null) warnings.push("no MMLU accuracy: mmlu, mmlu_gate_passed and final are null");

  const report: EvalReport = {
    task_aggregate: aggregate.value,
    mia_auc: auc,
    mia_score: mia,
    mmlu,
    final: finalScore(aggregate.value, mia, mmlu),
    mmlu_gate_passed: mmluGatePassed(mmlu),
    forget,
    retain,
    task_aggregate_terms: aggregate.terms,
    mia_members: inputs.memberNll?.length ?? null,
    mia_nonmembers: inputs.nonmemberNll?.length ?? null,
    mmlu_gate: MMLU_GATE_7B,
    scoring: { pandas_csv_quirk: options.pandasCsvQuirk ?? true },
    warnings,
  };
  if (inputs.layers !== undefined) report.layers = inputs.layers;
  return report;
}
