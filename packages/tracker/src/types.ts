/** The records a run is made of, as they are written to its directory and sent to backends. */

/** A JSON object; metric, config and summary values must survive JSON.stringify. */
export type JsonObject = Record<string, unknown>;

/** Lifecycle as written by the run. Readers add "crashed" for a "running" run whose process is gone. */
export type RecordedRunState = "running" | "finished" | "failed" | "killed";
export type RunState = RecordedRunState | "crashed";

/** run.json: who the run is and how it ended. Field names follow W&B's (`job_type`). */
export interface RunMeta {
  format: number;
  id: string;
  project: string;
  name: string;
  group: string | null;
  tags: string[];
  job_type: string | null;
  notes: string | null;
  /** The W&B sweep this run belongs to (agent trials), else null. */
  sweep: string | null;
  state: RecordedRunState;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  host: string;
  pid: number;
  /** Backends the run reported to, e.g. ["local", "wandb"]. */
  backends: string[];
}

/** One history line: the logged metrics plus W&B's bookkeeping keys. */
export interface HistoryRow extends JsonObject {
  _step: number;
  /** Seconds since the run started (continues across resumes). */
  _runtime: number;
  /** Unix time in seconds, fractional. */
  _timestamp: number;
}

/** A table as W&B's `table.json` media file stores it. */
export interface TableData {
  columns: string[];
  data: unknown[][];
}

/** A reference to a checkpoint (or any object) by URI; the bytes are never copied. */
export interface ArtifactRecord {
  name: string;
  type: string;
  uri: string;
  metadata: JsonObject;
  /** The step of the last history row when the artifact was recorded (-1 before the first row). */
  step: number;
  logged_at: string;
}

/** Exit codes 128+signal: SIGINT and SIGTERM mean the run was stopped, not that it failed. */
export function stateForExitCode(exitCode: number): RecordedRunState {
  if (exitCode === 0) return "finished";
  if (exitCode === 130 || exitCode === 143) return "killed";
  return "failed";
}
