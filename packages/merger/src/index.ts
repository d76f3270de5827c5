/**
 * @lethe/merger: TIES, DARE, breadcrumbs, DELLA, task arithmetic and linear merges of safetensors
 * checkpoints, faithful to mergekit (default), the TIES paper or PEFT, streamed tensor by tensor.
 */
export { configFromText, type LoadedConfig, loadConfigFile } from "./config/load.js";
export { applyOverrides, type Override } from "./config/overrides.js";
export { evaluateSetting, gradientT, layerIndexOf } from "./config/resolve.js";
export {
  ConfigError,
  type InputModel,
  type MergeConfig,
  type ModelReference,
  type ParameterSetting,
  parseMergeConfig,
} from "./config/schema.js";
export { type GtaTensorJob, mergeGtaTensor, type TensorStats } from "./engine/gta-tensor.js";
export { mergeLinearTensor } from "./engine/linear-tensor.js";
export { type BlockRunner, InlineRunner } from "./engine/runner.js";
export { gtaJob, linearSpec, type TensorMergeParameters } from "./engine/tensor-job.js";
export { formatPlan, type MergeOptions, type MergeResult, merge, planMerge } from "./execute.js";
export { truncatedSvd } from "./lora/svd.js";
export { MERGE_METHODS, mergeMethod } from "./methods/registry.js";
export type { MergeMethod } from "./methods/types.js";
export type { MergePlan, PlannedTensor, TensorCoverage } from "./plan.js";
export { SEMANTICS, type Semantics, type SemanticsName } from "./semantics.js";
export type { MergeStats } from "./stats.js";
export { WorkerPool } from "./workers/pool.js";
export { roundBf16, roundF16, type WorkingDType } from "./working-dtype.js";
