/**
 * What a local sweep leaves on disk, next to its trial runs:
 *
 *   <runsDir>/.sweeps/<sweepId>/
 *     sweep.json               this SweepRecord, rewritten atomically after every trial event
 *     config-<runId>.yaml      the trial's parameters in W&B's `{name: {value: v}}` form (WANDB_SWEEP_PARAM_PATH)
 *     args-<runId>.json        the same as one JSON object, for `${args_json_file}`
 *     <runId>.log              the trial's stdout and stderr
 *
 * Run readers skip `.sweeps` (it has no run.json). The dashboard reads sweep.json for its sweep views.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { FormatError } from "@lethe/core";
import { expectObject, readJson, writeJsonAtomic } from "../local/json-files.js";
import type { SweepConfig, SweepMetric } from "./config.js";
import type { TrialState } from "./search/strategy.js";

export const SWEEPS_DIR = ".sweeps";
export const SWEEP_RECORD_FILE = "sweep.json";

export interface TrialRecord {
  index: number;
  run_id: string;
  params: Record<string, unknown>;
  state: TrialState;
  exit_code: number | null;
  /** The metric as the search saw it (extremum of history and summary), null if never logged. */
  metric: number | null;
  /** Number of logged values of the metric (hyperband's iterations). */
  iterations: number;
  /** Where the metric came from: the trial's run, or JSON lines on its stdout. */
  metric_source: "run" | "stdout" | null;
  command: string[];
  started_at: string;
  ended_at: string | null;
  /** Why a trial was stopped or failed, in words. */
  note: string | null;
}

export interface SweepRecord {
  format: 1;
  id: string;
  name: string | null;
  group: string;
  method: SweepConfig["method"];
  metric: SweepMetric | null;
  config: SweepConfig;
  seed: number;
  parallel: number;
  /** `failed`: the controller itself hit an error (a trial's failure is the trial's state). */
  state: "running" | "finished" | "killed" | "failed";
  started_at: string;
  ended_at: string | null;
  trials: TrialRecord[];
  best: { index: number; run_id: string; metric: number; params: Record<string, unknown> } | null;
}

export function sweepDir(runsDir: string, sweepId: string): string {
  return join(runsDir, SWEEPS_DIR, sweepId);
}

export function writeSweepRecord(runsDir: string, record: SweepRecord): void {
  writeJsonAtomic(join(sweepDir(runsDir, record.id), SWEEP_RECORD_FILE), record);
}

export async function readSweepRecord(runsDir: string, sweepId: string): Promise<SweepRecord> {
  const path = join(sweepDir(runsDir, sweepId), SWEEP_RECORD_FILE);
  const value = expectObject(path, await readJson<unknown>(path, null));
  if (value.format !== 1 || typeof value.id !== "string" || !Array.isArray(value.trials)) {
    throw new FormatError(`${path}: not a sweep record (needs format 1, id and trials)`);
  }
  return value as unknown as SweepRecord;
}

/** Every sweep recorded under `runsDir`, newest first; a runs directory without sweeps has none. */
export async function listSweeps(runsDir: string): Promise<SweepRecord[]> {
  let ids: string[];
  try {
    ids = await readdir(join(runsDir, SWEEPS_DIR));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const sweeps: SweepRecord[] = [];
  for (const id of ids) {
    const path = join(sweepDir(runsDir, id), SWEEP_RECORD_FILE);
    if ((await readJson<unknown>(path, null)) === null) continue;
    sweeps.push(await readSweepRecord(runsDir, id));
  }
  return sweeps.sort((a, b) => b.started_at.localeCompare(a.started_at));
}
