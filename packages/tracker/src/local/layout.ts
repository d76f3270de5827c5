/**
 * Where a run lives on disk. One directory per run under the runs directory (`LETHE_RUNS_DIR`, default
 * `./runs`), named by the run id. Everything that reads or writes runs (the Run API, `lethe-track sync`,
 * the sweep controller, the dashboard) finds the files through these functions.
 *
 *   <runsDir>/<runId>/
 *     run.json         identity and lifecycle (RunMeta)
 *     config.json      the flat config object
 *     history.jsonl    one JSON row per log() call, append-only; the W&B history stream, line N = offset N
 *     summary.json     the merged latest values
 *     tables/<name>.table.json   {"columns": [...], "data": [[...], ...]}
 *     artifacts.json   references to checkpoint URIs (ArtifactRecord[])
 *     wandb.json       upload state of the W&B backend (what the server has acknowledged)
 */
import { join, resolve } from "node:path";
import { FormatError } from "@lethe/core";

export const RUN_META_FILE = "run.json";
export const CONFIG_FILE = "config.json";
export const HISTORY_FILE = "history.jsonl";
export const SUMMARY_FILE = "summary.json";
export const TABLES_DIR = "tables";
export const TABLE_SUFFIX = ".table.json";
export const ARTIFACTS_FILE = "artifacts.json";
export const WANDB_STATE_FILE = "wandb.json";

/** Version of the on-disk layout, written into run.json. */
export const LAYOUT_VERSION = 1;

/** Run ids, table and artifact names become file names or URL parts: keep them to a safe alphabet. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes("..");
}

/** Throws a FormatError naming `what` (e.g. `run id`, `table name`) when `name` is not a safe name. */
export function assertSafeName(what: string, name: string): void {
  if (!isSafeName(name)) {
    throw new FormatError(
      `${what} ${JSON.stringify(name)} is not allowed: use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit`,
    );
  }
}

/** The runs directory: `LETHE_RUNS_DIR`, else `./runs`, as an absolute path. */
export function defaultRunsDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env["LETHE_RUNS_DIR"];
  return resolve(configured && configured.length > 0 ? configured : "runs");
}

export function runDir(runsDir: string, runId: string): string {
  assertSafeName("run id", runId);
  return join(runsDir, runId);
}

export interface RunPaths {
  dir: string;
  meta: string;
  config: string;
  history: string;
  summary: string;
  tables: string;
  artifacts: string;
  wandbState: string;
}

export function runPaths(dir: string): RunPaths {
  return {
    dir,
    meta: join(dir, RUN_META_FILE),
    config: join(dir, CONFIG_FILE),
    history: join(dir, HISTORY_FILE),
    summary: join(dir, SUMMARY_FILE),
    tables: join(dir, TABLES_DIR),
    artifacts: join(dir, ARTIFACTS_FILE),
    wandbState: join(dir, WANDB_STATE_FILE),
  };
}

export function tablePath(dir: string, tableName: string): string {
  assertSafeName("table name", tableName);
  return join(dir, TABLES_DIR, tableName + TABLE_SUFFIX);
}
