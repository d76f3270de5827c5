export { type CsvRecord, encodeCsv, parseCsv } from "./csv.js";
export {
  DatasetError,
  describeType,
  formatIssue,
  formatLocation,
  type RecordLocation,
  type RowIssue,
} from "./issues.js";
export {
  type CheckedRows,
  checkMiaRecords,
  checkTaskRecords,
  inspectMiaRows,
  inspectTaskRows,
  type LoadOptions,
  loadMiaRows,
  loadTaskRows,
  readRecords,
} from "./load.js";
export { type DataLocation, joinUri, locate, locateDir, type StoreOption } from "./location.js";
export {
  type CheckedMmlu,
  encodeMmluCsv,
  inspectMmlu,
  loadMmlu,
  MMLU_CHOICES,
  type MmluAnswer,
  type MmluQuestion,
  type MmluSubject,
  parseMmluCsv,
  writeMmlu,
} from "./mmlu.js";
export {
  type DataFormat,
  formatOf,
  parseJson,
  parseJsonl,
  parseParquet,
  parseRecords,
  type RawRecord,
  type RawRecords,
} from "./records.js";
export { mix32, Rng } from "./rng.js";
export {
  documentId,
  MIA_FIELDS,
  type MiaRow,
  miaRowSchema,
  type RowKind,
  rowIndex,
  rowKind,
  SPLITS,
  type Split,
  TASK_FIELDS,
  TASKS,
  type Task,
  type TaskRow,
  taskRowSchema,
} from "./schema.js";
export {
  corpusText,
  type DocumentGroup,
  SYNTH_SIZES,
  type SynthDataset,
  type SynthOptions,
  type SynthSize,
  synthesize,
} from "./synth/dataset.js";
export { cutNear, documentRows, type QuestionAnswer, type SynthDocument } from "./synth/document.js";
export { type SynthManifest, type TaskCounts, writeSynthDataset } from "./synth/write.js";
export {
  encodeJsonl,
  encodePandasColumns,
  encodeParquet,
  encodeRows,
  type WriteOptions,
  writeMiaRows,
  writeTaskRows,
} from "./write.js";
