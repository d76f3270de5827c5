export { type LoadedInputs, loadRunInputs, type RunInputs } from "./inputs.js";
export { PartialFile, type PartialKey, type PartialStage, type PartialStages } from "./io/partial-file.js";
export { loadNllRows, loadPredictionRows, type NllRow, type PredictionRow } from "./io/prediction-rows.js";
export { accumulateResidual, compareResidualStreams } from "./layers/residual.js";
export type { LayerAnalysis, ResidualLayerStats, WeightDeltaStats } from "./layers/types.js";
export { loraDeltaSquaredNorm, loraScaling, splitLayerName, weightDeltas } from "./layers/weight-delta.js";
export { type EvalLogger, logReport, reportSummary, type SummaryValue, type TableCell } from "./logging.js";
export { asPromptItems, evaluateMmlu, type MmluOptions, type MmluResult } from "./mmlu/evaluate.js";
export { loadMultipleChoice } from "./mmlu/load.js";
export { pandasColumnText, pythonFloatRepr } from "./mmlu/pandas-columns.js";
export {
  CHOICE_LETTERS,
  fewShotPrefix,
  formatExample,
  formatSubject,
  type MmluItem,
  mmluPrompt,
} from "./mmlu/prompt.js";
export { type BatchResume, mapInBatches } from "./model/batches.js";
export type { EvalModel, TextHiddenStates } from "./model/eval-model.js";
export { DEFAULT_MAX_NEW_TOKENS, type GenerateOptions, generateRows } from "./model/generate.js";
export { cleanUpTokenization, LetheEvalModel, type LoadEvalModelOptions } from "./model/lethe-eval-model.js";
export { documentNll } from "./model/mia-nll.js";
export { ratioToDouble, sumUnits, toUnits } from "./numeric/exact.js";
export { numpyMean, numpySum } from "./numeric/numpy-sum.js";
export { pythonHarmonicMean, pythonMean, StatisticsError } from "./numeric/python-statistics.js";
export { buildReport, type EvalReport, type ReportInputs } from "./report.js";
export { porterStem } from "./rouge/porter-stemmer.js";
export { lcsLength, type RougeLScore, rougeL, rougeLRecall } from "./rouge/rouge-l.js";
export { rougeTokenize } from "./rouge/tokenize.js";
export { type LayerBase, type RunOptions, type RunTimings, runEvaluation } from "./run.js";
export { checkAccuracy, type ScoreFilesInput, scoreFiles } from "./score-files.js";
export {
  type AggregateTerm,
  type Metric,
  type TaskAggregate,
  taskAggregate,
} from "./scores/aggregate.js";
export { finalScore, MMLU_GATE_7B, mmluGatePassed } from "./scores/final.js";
export { knowledgeScore, pythonStrip } from "./scores/knowledge.js";
export { miaAuc, miaScore, type RocCurve, rocCurve, trapezoidArea } from "./scores/mia.js";
export { pandasCsvRoundTrip } from "./scores/pandas-csv.js";
export {
  type GeneratedRow,
  type ScoreOptions,
  type SplitScores,
  scoreRow,
  splitScores,
  type TaskScores,
} from "./scores/task-scores.js";
