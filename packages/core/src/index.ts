export * from "./checkpoint/checkpoint.js";
export { type CopyOptions, copyCheckpoint } from "./checkpoint/copy.js";
export { hashObject } from "./checkpoint/hashing.js";
export * from "./checkpoint/manifest.js";
export { type VerifyOptions, type VerifyResult, verifyCheckpoint } from "./checkpoint/verify.js";
export { CheckpointWriter, type CheckpointWriterOptions } from "./checkpoint/writer.js";
export { formatBytes, type Progress, progressBar } from "./cli/progress.js";
export { runCli, UsageError } from "./cli/run-cli.js";
export * from "./data/index.js";
export * from "./errors.js";
export { type InterruptHandler, type InterruptSignal, onInterrupt } from "./process/interrupt.js";
export * from "./safetensors/header.js";
export { joinSource, SafetensorsFile } from "./safetensors/reader.js";
export * from "./safetensors/sharded.js";
export { type NamedTensor, writeSafetensorsFile } from "./safetensors/write-file.js";
export {
  layoutEntries,
  referenceOrder,
  SafetensorsWriter,
  type TensorBytes,
  type TensorSpec,
} from "./safetensors/writer.js";
export { FileStore, removeStaleStaging } from "./store/file.js";
export { PUBLISHING_MARKER } from "./store/markers.js";
export {
  checkDestination,
  createS3StoreLazily,
  isRemoteUri,
  openStore,
  type StoreOptions,
} from "./store/open.js";
export type { S3StoreOptions } from "./store/s3.js";
export * from "./store/types.js";
export * from "./tensor/convert.js";
export * from "./tensor/dtype.js";
export * from "./tensor/tensor.js";
export { compileWasmFile } from "./wasm.js";
