/**
 * What the dashboard's JSON API returns, assembled from a runs directory on every request (runs change
 * while the dashboard is open; a directory of a few hundred runs reads in milliseconds).
 */
import { readHistory } from "../local/history-reader.js";
import { isSafeName, runDir, runPaths } from "../local/layout.js";
import { listRuns, type RunRecord, readRun, readTable } from "../local/reader.js";
import { listSweeps, type SweepRecord } from "../sweep/record.js";
import type { ArtifactRecord, TableData } from "../types.js";

export interface RunSummary {
  id: string;
  name: string;
  project: string;
  group: string | null;
  sweep: string | null;
  job_type: string | null;
  tags: string[];
  state: string;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  /** Nested objects flattened to dotted keys. */
  config: Record<string, unknown>;
  /** Scalar summary values only, dotted keys. */
  summary: Record<string, number | string | boolean | null>;
}

export interface TableInfo {
  name: string;
  columns: string[];
  rows: number;
  /** The table has a `layer` column: the page offers it as a layer-wise heatmap. */
  layerwise: boolean;
}

export interface RunDetail extends RunSummary {
  /** Keys of the history that hold numbers in at least one row (the curve choices). */
  history_keys: string[];
  history_rows: number;
  tables: TableInfo[];
  artifacts: ArtifactRecord[];
}

export interface SweepView {
  id: string;
  name: string | null;
  method: string | null;
  metric: { name: string; goal: "minimize" | "maximize" } | null;
  /** Parameters that vary across the trials (the axes); a parameter with one value is not an axis. */
  params: string[];
  /** Parameters every trial had the same value of. */
  fixed: Record<string, unknown>;
  state: string | null;
  best_run: string | null;
  trials: {
    run_id: string;
    /** The run's own name (the trial's id when it has none). */
    name: string;
    state: string;
    params: Record<string, unknown>;
    metric: number | null;
    summary: RunSummary["summary"];
  }[];
}

export function flatten(
  value: unknown,
  prefix = "",
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out[prefix] = {};
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

function scalarSummary(summary: Record<string, unknown>): RunSummary["summary"] {
  const out: RunSummary["summary"] = {};
  for (const [k, v] of Object.entries(flatten(summary))) {
    if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") out[k] = v;
  }
  return out;
}

function toSummary(record: RunRecord): RunSummary {
  const { meta } = record;
  return {
    id: meta.id,
    name: meta.name,
    project: meta.project,
    group: meta.group,
    sweep: meta.sweep,
    job_type: meta.job_type,
    tags: meta.tags,
    state: record.state,
    started_at: meta.started_at,
    ended_at: meta.ended_at,
    exit_code: meta.exit_code,
    config: flatten(record.config),
    summary: scalarSummary(record.summary),
  };
}

/**
 * Every run, newest first. A trial the sweep stopped (hyperband) ends as a run killed by SIGTERM; it reads
 * "stopped" here as in the sweep's own record, so one word names it everywhere.
 */
export async function runSummaries(runsDir: string): Promise<RunSummary[]> {
  const stopped = new Set(
    (await listSweeps(runsDir)).flatMap((r) =>
      r.trials.filter((t) => t.state === "stopped").map((t) => t.run_id),
    ),
  );
  return (await listRuns(runsDir)).map((record) => {
    const summary = toSummary(record);
    return stopped.has(summary.id) ? { ...summary, state: "stopped" } : summary;
  });
}

/** Split parameters into those that vary across `values` (axes) and those with one value (fixed). */
function varying(
  keys: Iterable<string>,
  values: readonly Record<string, unknown>[],
): { params: string[]; fixed: Record<string, unknown> } {
  const params: string[] = [];
  const fixed: Record<string, unknown> = {};
  for (const key of keys) {
    const distinct = new Set(values.map((v) => JSON.stringify(v[key] ?? null)));
    if (distinct.size > 1) params.push(key);
    else fixed[key] = values[0]?.[key] ?? null;
  }
  return { params: params.sort(), fixed };
}

/** The run directory for an id from a URL, or null for an id that cannot name a run. */
export function runDirFor(runsDir: string, id: string): string | null {
  return isSafeName(id) ? runDir(runsDir, id) : null;
}

export async function runDetail(runsDir: string, id: string): Promise<RunDetail | null> {
  const dir = runDirFor(runsDir, id);
  if (dir === null) return null;
  let contents: Awaited<ReturnType<typeof readRun>>;
  try {
    contents = await readRun(dir);
  } catch (err) {
    if ((err as Error).name === "NotFoundError") return null;
    throw err;
  }
  const keys = new Set<string>();
  for (const row of contents.history) {
    for (const [k, v] of Object.entries(row)) {
      if (typeof v === "number" && !k.startsWith("_")) keys.add(k);
    }
  }
  const tables: TableInfo[] = [];
  for (const name of contents.tables) {
    const table = await readTable(dir, name);
    tables.push({
      name,
      columns: table.columns,
      rows: table.data.length,
      layerwise: table.columns.includes("layer"),
    });
  }
  return {
    ...toSummary(contents),
    history_keys: [...keys].sort(),
    history_rows: contents.history.length,
    tables,
    artifacts: contents.artifacts,
  };
}

/** Columns of the history for the given keys, aligned on `_step` (null where a row lacks the key). */
export async function historyColumns(
  runsDir: string,
  id: string,
  keys: readonly string[],
): Promise<Record<string, (number | null)[]> | null> {
  const dir = runDirFor(runsDir, id);
  if (dir === null) return null;
  const rows = await readHistory(runPaths(dir).history);
  const out: Record<string, (number | null)[]> = { _step: [] };
  for (const key of keys) out[key] = [];
  for (const row of rows) {
    if (!keys.some((k) => typeof row[k] === "number")) continue;
    out._step!.push(row._step);
    for (const key of keys) {
      const v = row[key];
      out[key]!.push(typeof v === "number" && Number.isFinite(v) ? v : null);
    }
  }
  return out;
}

export async function tableData(runsDir: string, id: string, name: string): Promise<TableData | null> {
  const dir = runDirFor(runsDir, id);
  if (dir === null || !isSafeName(name)) return null;
  try {
    return await readTable(dir, name);
  } catch (err) {
    if ((err as Error).name === "NotFoundError") return null;
    throw err;
  }
}

/**
 * Sweeps: every local sweep record, plus runs that share a `sweep` id without one (trials of a W&B sweep
 * run through `lethe-track agent`); for those the parameters are the config keys that vary.
 */
export async function sweepViews(runsDir: string): Promise<SweepView[]> {
  const runs = await runSummaries(runsDir);
  const byId = new Map(runs.map((r) => [r.id, r]));
  const records = await listSweeps(runsDir);
  const views: SweepView[] = records.map((record) => fromRecord(record, byId));
  const recorded = new Set(records.map((r) => r.id));
  const bySweep = new Map<string, RunSummary[]>();
  for (const run of runs) {
    if (run.sweep === null || recorded.has(run.sweep)) continue;
    bySweep.set(run.sweep, [...(bySweep.get(run.sweep) ?? []), run]);
  }
  for (const [id, members] of bySweep) views.push(fromRuns(id, members));
  return views;
}

function fromRecord(record: SweepRecord, runs: Map<string, RunSummary>): SweepView {
  const keys = new Set<string>();
  for (const t of record.trials) for (const k of Object.keys(t.params)) keys.add(k);
  const { params, fixed } = varying(
    keys,
    record.trials.map((t) => t.params),
  );
  return {
    id: record.id,
    name: record.name,
    method: record.method,
    metric: record.metric ? { name: record.metric.name, goal: record.metric.goal } : null,
    params,
    fixed,
    state: record.state,
    best_run: record.best?.run_id ?? null,
    trials: record.trials.map((t) => ({
      run_id: t.run_id,
      name: runs.get(t.run_id)?.name ?? t.run_id,
      state: t.state,
      params: t.params,
      metric: t.metric,
      summary: runs.get(t.run_id)?.summary ?? {},
    })),
  };
}

function fromRuns(id: string, members: RunSummary[]): SweepView {
  const keys = new Set(members.flatMap((r) => Object.keys(r.config)));
  const { params, fixed } = varying(
    keys,
    members.map((r) => r.config),
  );
  return {
    id,
    name: null,
    method: null,
    metric: null,
    params,
    fixed,
    state: null,
    best_run: null,
    trials: members.map((r) => ({
      run_id: r.id,
      name: r.name,
      state: r.state,
      params: Object.fromEntries(params.map((k) => [k, r.config[k]])),
      metric: null,
      summary: r.summary,
    })),
  };
}
