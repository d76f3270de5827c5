import type { ArtifactRecord, HistoryRow, JsonObject, TableData } from "../types.js";

/** What a backend learns about the run when it starts. */
export interface RunInfo {
  id: string;
  project: string;
  name: string;
  group: string | null;
  tags: string[];
  jobType: string | null;
  notes: string | null;
  sweep: string | null;
  config: JsonObject;
  /** The run directory when the run keeps one (local backend, and W&B's spool), else null. */
  dir: string | null;
  resumed: boolean;
}

/**
 * A destination for a run's records. The Run fans every call out to each backend in order; the local
 * backend comes first, so the W&B backend only ever uploads what is already on disk.
 * `log`, `summary`, `config`, `table` and `artifact` are synchronous: a backend that talks to a network
 * queues the work and returns.
 */
export interface Backend {
  readonly kind: string;
  start?(info: RunInfo): Promise<void>;
  log(row: HistoryRow): void;
  /** The whole merged summary after a change. */
  summary(summary: JsonObject): void;
  /** The whole config after a change. */
  config(config: JsonObject): void;
  table(name: string, table: TableData): void;
  artifact(artifact: ArtifactRecord): void;
  finish(exitCode: number): Promise<void>;
  /** Last resort from the process 'exit' event, where nothing asynchronous can run any more. */
  finishSync?(exitCode: number): void;
}
