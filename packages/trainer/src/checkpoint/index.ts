export { adapterConfig, baseModelName, shortModuleName } from "./adapter.js";
export type { WeightsDtype } from "./full.js";
export { type HashedDataFile, hashDataFiles } from "./provenance.js";
export {
  type ParamShape,
  type ReadTrainingStateOptions,
  readTrainingState,
  type TrainingState,
} from "./read.js";
export {
  type DataFile,
  DEFAULT_MAX_SHARD_BYTES,
  type LoraSettings,
  MASTERS_FILE,
  OPTIMIZER_FILE,
  type ParamMode,
  type ResumeState,
  STATE_DIR,
  STATE_FILE,
  TRAIN_STAGE,
  type TrainedTensor,
  type TrainerProgress,
} from "./types.js";
export { type TrainingCheckpointInput, writeTrainingCheckpoint } from "./write.js";
