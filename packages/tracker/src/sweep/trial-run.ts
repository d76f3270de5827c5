/**
 * A trial as a run. The controller creates the run directory before the trial starts (state running,
 * config = the trial's parameters, in the sweep's group), so every trial is recorded even if its command
 * never uses the tracker or dies at once. The child joins that same run the way a W&B sweep trial does:
 * WANDB_RUN_ID names it, WANDB_RESUME=allow reopens it, WANDB_SWEEP_PARAM_PATH merges the parameters
 * into its config and WANDB_SWEEP_ID / WANDB_RUN_GROUP put it in the sweep (see run.ts).
 * When the child exits without closing the run (it never opened it, or it crashed), the controller
 * closes it with the child's exit code, first logging the JSON rows the child printed on stdout.
 */

import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { readCompleteLines } from "../local/history-reader.js";
import { readJson, writeJsonAtomic } from "../local/json-files.js";
import { LAYOUT_VERSION, runDir, runPaths } from "../local/layout.js";
import { readRunMeta } from "../local/reader.js";
import { startRun } from "../run.js";
import type { JsonObject, RunMeta } from "../types.js";

export interface TrialRunIdentity {
  runsDir: string;
  runId: string;
  sweepId: string;
  group: string;
  project: string;
  name: string;
  jobType: string;
  params: JsonObject;
}

export function createTrialRun(identity: TrialRunIdentity): string {
  const dir = runDir(identity.runsDir, identity.runId);
  const paths = runPaths(dir);
  mkdirSync(dir, { recursive: true });
  const meta: RunMeta = {
    format: LAYOUT_VERSION,
    id: identity.runId,
    project: identity.project,
    name: identity.name,
    group: identity.group,
    tags: ["sweep"],
    job_type: identity.jobType,
    notes: null,
    sweep: identity.sweepId,
    state: "running",
    started_at: new Date().toISOString(),
    ended_at: null,
    exit_code: null,
    host: hostname(),
    pid: process.pid,
    backends: ["local"],
  };
  writeJsonAtomic(paths.config, identity.params);
  writeJsonAtomic(paths.summary, {});
  writeJsonAtomic(paths.artifacts, []);
  writeJsonAtomic(paths.meta, meta);
  return dir;
}

/** Follows one metric in a run's history as the run appends to it. */
export class MetricFollower {
  private offset = 0;
  readonly values: number[] = [];

  constructor(
    private readonly historyPath: string,
    private readonly metric: string,
  ) {}

  /** Reads the rows appended since the last call; returns the metric's whole history so far. */
  poll(): number[] {
    const chunk = readCompleteLines(this.historyPath, this.offset);
    this.offset = chunk.endByte;
    for (const line of chunk.lines) {
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        continue;
      }
      const value = (row as Record<string, unknown> | null)?.[this.metric];
      if (typeof value === "number" && Number.isFinite(value)) this.values.push(value);
    }
    return this.values;
  }
}

export async function readSummaryMetric(dir: string, metric: string): Promise<number | undefined> {
  const summary = await readJson<Record<string, unknown>>(runPaths(dir).summary, {});
  const value = summary?.[metric];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

const RESERVED = new Set(["_step", "_runtime", "_timestamp"]);

/**
 * Closes the trial's run if the child left it open, with `exitCode`. Rows the child printed as JSON are
 * logged first when its history is empty (it did not use the tracker).
 */
export async function finalizeTrialRun(
  runsDir: string,
  runId: string,
  exitCode: number,
  stdoutRows: readonly JsonObject[],
): Promise<void> {
  const meta = await readRunMeta(runDir(runsDir, runId));
  if (meta.state !== "running") return;
  const run = await startRun({
    id: meta.id,
    resume: "must",
    runsDir,
    tracker: "local",
    exitHandlers: false,
    project: meta.project,
    name: meta.name,
    ...(meta.group !== null ? { group: meta.group } : {}),
    tags: meta.tags,
    ...(meta.job_type !== null ? { job_type: meta.job_type } : {}),
    ...(meta.notes !== null ? { notes: meta.notes } : {}),
    env: meta.sweep !== null ? { WANDB_SWEEP_ID: meta.sweep } : {},
  });
  if (run.step < 0) {
    for (const row of stdoutRows) {
      const metrics: JsonObject = {};
      for (const [k, v] of Object.entries(row)) if (!RESERVED.has(k)) metrics[k] = v;
      const step = row._step;
      if (typeof step === "number" && Number.isSafeInteger(step) && step >= Math.max(0, run.step)) {
        run.log(metrics, { step });
      } else {
        run.log(metrics);
      }
    }
  }
  await run.finish(exitCode);
}
