/**
 * Reading runs back (the dashboard, the sweep controller, `lethe-track sync`): a run directory is read
 * while its run may still be writing it, so every read tolerates what a live or crashed writer leaves.
 */
import { readdir, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { FormatError, NotFoundError } from "@lethe/core";
import type { ArtifactRecord, HistoryRow, JsonObject, RunMeta, RunState, TableData } from "../types.js";
import { readHistory } from "./history-reader.js";
import { expectObject, readJson } from "./json-files.js";
import { runPaths, TABLE_SUFFIX, tablePath } from "./layout.js";

export interface RunRecord {
  dir: string;
  meta: RunMeta;
  /** meta.state, except "crashed" for a run marked running whose process no longer exists on this host. */
  state: RunState;
  config: JsonObject;
  summary: JsonObject;
}

export interface RunContents extends RunRecord {
  history: HistoryRow[];
  tables: string[];
  artifacts: ArtifactRecord[];
}

/** Whether the process that wrote `meta` is still alive (only knowable on the same host). */
export function writerAlive(meta: RunMeta): boolean | null {
  if (meta.host !== hostname()) return null;
  try {
    process.kill(meta.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function effectiveState(meta: RunMeta): RunState {
  if (meta.state === "running" && writerAlive(meta) === false) return "crashed";
  return meta.state;
}

export async function readRunMeta(dir: string): Promise<RunMeta> {
  const paths = runPaths(dir);
  const meta = await readJson<RunMeta | null>(paths.meta, null);
  if (meta === null) throw new NotFoundError(`${dir} is not a run directory (no run.json)`);
  if (typeof meta !== "object" || typeof meta.id !== "string" || typeof meta.project !== "string") {
    throw new FormatError(`${paths.meta}: not a run record (needs string fields id and project)`);
  }
  return meta;
}

/** Identity, state, config and summary of one run (not its history). */
export async function readRunRecord(dir: string): Promise<RunRecord> {
  const paths = runPaths(dir);
  const meta = await readRunMeta(dir);
  const config = expectObject(paths.config, await readJson<unknown>(paths.config, {}));
  const summary = expectObject(paths.summary, await readJson<unknown>(paths.summary, {}));
  return { dir, meta, state: effectiveState(meta), config, summary };
}

/** Everything of one run: the record plus history rows, table names and artifact references. */
export async function readRun(dir: string): Promise<RunContents> {
  const paths = runPaths(dir);
  const record = await readRunRecord(dir);
  const history = await readHistory(paths.history);
  let tables: string[] = [];
  try {
    tables = (await readdir(paths.tables))
      .filter((f) => f.endsWith(TABLE_SUFFIX))
      .map((f) => f.slice(0, -TABLE_SUFFIX.length))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const artifacts = await readJson<ArtifactRecord[]>(paths.artifacts, []);
  if (!Array.isArray(artifacts)) throw new FormatError(`${paths.artifacts}: expected a JSON array`);
  return { ...record, history, tables, artifacts };
}

export async function readTable(dir: string, name: string): Promise<TableData> {
  const path = tablePath(dir, name);
  const table = await readJson<TableData | null>(path, null);
  if (table === null) throw new NotFoundError(`${dir}: no table ${JSON.stringify(name)} (${path})`);
  if (!Array.isArray(table.columns) || !Array.isArray(table.data)) {
    throw new FormatError(`${path}: a table needs "columns" and "data" arrays`);
  }
  return table;
}

/**
 * Every run under `runsDir` (directories holding a run.json), newest first by start time. Directories
 * without run.json (a sweep's scratch files, a half-created run) are skipped; a missing runsDir is empty.
 */
export async function listRuns(runsDir: string): Promise<RunRecord[]> {
  let names: string[];
  try {
    names = await readdir(runsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const runs: RunRecord[] = [];
  for (const name of names.sort()) {
    const dir = join(runsDir, name);
    const info = await stat(dir).catch(() => null);
    if (!info?.isDirectory()) continue;
    try {
      runs.push(await readRunRecord(dir));
    } catch (err) {
      if (err instanceof NotFoundError) continue;
      throw err;
    }
  }
  return runs.sort(
    (a, b) => b.meta.started_at.localeCompare(a.meta.started_at) || a.meta.id.localeCompare(b.meta.id),
  );
}
