export { type BatchRules, buildBatch } from "./batch.js";
export { collate, nextTokenLabels, type TrainBatch } from "./collate.js";
export {
  type EncodedRow,
  encodePromptTarget,
  encodeText,
  IGNORE,
  type PromptTargetOptions,
} from "./encode.js";
export { chunks, seededOrder, seededShuffle } from "./order.js";
export { type EpochOptions, type PairedBatch, pairedEpoch } from "./pairing.js";
export {
  type DataFiles,
  loadTrainingRows,
  resolveDataFiles,
  retainNeed,
  type TrainingRows,
} from "./rows.js";
export { fromLetheTokenizer, type TextTokenizer } from "./tokenizer.js";
export { type TopicEpochOptions, type TopicStep, topicEpoch, topicsOf } from "./topics.js";
