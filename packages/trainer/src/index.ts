export * from "./checkpoint/index.js";
export * from "./config/index.js";
export * from "./data/index.js";
export { HEAD_CHUNK_VALUES } from "./loss-head.js";
export * from "./losses/index.js";
export { type MicroBatch, Objective, type StepTerms } from "./objective.js";
export { AdamW, type AdamWOptions, type AdamWState, clipScale, globalGradNorm } from "./optim/adamw.js";
export {
  LORA_SCALING,
  type LoraSpec,
  type Parameter,
  ParameterSet,
  type TrainableSpec,
  type Use,
} from "./params.js";
export { resumeFrom, saveCheckpoint } from "./save.js";
export {
  type Cotangents,
  type ForwardPass,
  type LogitsTarget,
  type LossTarget,
  TrainingStep,
} from "./step.js";
export {
  materialise,
  optimizerStep,
  prepareTraining,
  runTraining,
  type StepRecord,
  type TrainContext,
  type TrainHooks,
  type TrainOptions,
  type TrainResult,
  train,
  trainableSpec,
} from "./train.js";
export { type WeightDelta, weightDeltaNorms } from "./weight-deltas.js";
