export { LocalBackend } from "./backends/local.js";
export { NoneBackend } from "./backends/none.js";
export { type BackendName, parseTrackerSpec } from "./backends/select.js";
export type { Backend, RunInfo } from "./backends/types.js";
export { WandbBackend, type WandbBackendOptions } from "./backends/wandb.js";
export * from "./dashboard/index.js";
export { countCompleteLines, readCompleteLines, readHistory } from "./local/history-reader.js";
export * from "./local/layout.js";
export {
  effectiveState,
  listRuns,
  type RunContents,
  type RunRecord,
  readRun,
  readRunMeta,
  readRunRecord,
  readTable,
} from "./local/reader.js";
export { generateRunId, type ResumeMode, Run, RunConfig, type StartRunOptions, startRun } from "./run.js";
export {
  artifactName,
  progressLogger,
  recordInputs,
  recordOutput,
  type StageCheckpoint,
  startStageRun,
} from "./stage.js";
export * from "./sweep/index.js";
export * from "./types.js";
export { type AgentOptions, type AgentResult, runAgent, type TrialResult } from "./wandb/agent.js";
export { type ClientOptions, type FileStreamBody, GraphQLError, WandbClient } from "./wandb/client.js";
export {
  parseWandbMode,
  type WandbMode,
  type WandbSettings,
  wandbRunEnv,
  wandbSettings,
} from "./wandb/env.js";
export { type AgentCommand, readSweep, upsertSweep } from "./wandb/operations.js";
export {
  DEFAULT_RETRY,
  HttpStatusError,
  RetriesExhaustedError,
  type RetryPolicy,
  TransportError,
} from "./wandb/retry.js";
export { readSweepParams, writeSweepParams } from "./wandb/sweep-params.js";
export { type SyncOptions, type SyncResult, syncRun } from "./wandb/sync.js";
export { RunUploader, wireConfig } from "./wandb/uploader.js";
