export { durationSeconds, isDuration } from "./duration.js";
export { closestMatch, didYouMean, editDistance } from "./edit-distance.js";
export { ConfigError } from "./errors.js";
export {
  applyOverrides,
  checkOverridePath,
  type Override,
  overrideValue,
  parseOverride,
} from "./overrides.js";
export { fieldPaths } from "./paths.js";
export { PRESETS, type PresetDocument } from "./presets.js";
export { printConfig } from "./print.js";
export {
  deepMerge,
  loadTrainConfig,
  mergedDocument,
  parseConfigText,
  presetDocument,
  type ResolveOptions,
  resolveDraftConfig,
  resolveTrainConfig,
} from "./resolve.js";
export {
  type LrSchedule,
  learningRate,
  lrScheduleFor,
  resolveWarmupSteps,
  stepsPerEpoch,
  totalSteps,
} from "./schedule.js";
export {
  ALL_LINEAR_MODULES,
  DATA_FORMATS,
  type DraftTrainConfig,
  draftConfigSchema,
  EVAL_KEEP,
  EVAL_METRICS,
  FORGET_LOSSES,
  type ForgetLoss,
  KL_POSITIONS,
  NPO_REDUCTIONS,
  PARAM_MODES,
  PRESET_NAMES,
  type PresetName,
  RMU_COEFFS,
  RMU_MSE,
  SCHEDULES,
  type TrainConfig,
  trainConfigSchema,
  WMDP_SELECT,
} from "./schema.js";
