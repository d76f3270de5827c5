/**
 * The local sweep controller: W&B's sweep server and agent in one process.
 *
 * For each trial, when one of the `parallel` slots (p-limit) frees up: ask the search method for
 * parameters (so Bayesian search sees every result so far), create the trial's run in the sweep's group,
 * start the command with `--name=value` arguments and W&B's agent environment, and wait. While trials run,
 * hyperband (if configured) is evaluated every `pollMs` over the metric histories the trials log, and the
 * trials it rejects are stopped. A trial that fails is recorded and the sweep goes on. When the signal
 * aborts (Ctrl-C in the CLI), no new trial starts, running ones get SIGTERM (SIGKILL after the grace
 * period) and are recorded as killed.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConflictError, errorMessage, FormatError } from "@lethe/core";
import pLimit from "p-limit";
import { defaultRunsDir, runPaths } from "../local/layout.js";
import { generateRunId } from "../run.js";
import type { JsonObject } from "../types.js";
import { writeSweepParams } from "../wandb/sweep-params.js";
import { DEFAULT_COMMAND, expandCommand, formatArgValue, usesArgsJsonFile } from "./command.js";
import type { SweepConfig } from "./config.js";
import { hyperbandStops } from "./hyperband.js";
import { flattenParameters } from "./parameters.js";
import { type SweepRecord, sweepDir, type TrialRecord, writeSweepRecord } from "./record.js";
import { createRng } from "./rng.js";
import { createBayesSearch } from "./search/bayes.js";
import { createGridSearch } from "./search/grid.js";
import { createRandomSearch } from "./search/random.js";
import {
  metricExtremum,
  type SearchStrategy,
  type TrialObservation,
  type TrialState,
} from "./search/strategy.js";
import { TrialProcess } from "./trial-process.js";
import { createTrialRun, finalizeTrialRun, MetricFollower, readSummaryMetric } from "./trial-run.js";

export interface SweepOptions {
  config: SweepConfig;
  /** Names the config in messages (the YAML file). */
  source?: string;
  /** Default LETHE_RUNS_DIR, else ./runs. */
  runsDir?: string;
  /** Trials running at once (default 1). */
  parallel?: number;
  /** At most this many trials (like `wandb agent --count`); also bounded by `run_cap` and the grid size. */
  count?: number;
  /** Seed for random and Bayesian search (default: drawn at random, recorded in sweep.json). */
  seed?: number;
  sweepId?: string;
  /** The trials' run group (default: the sweep id). */
  group?: string;
  /** Working directory of the trials (default: this process's). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How often running trials are checked for hyperband (default 1000 ms). */
  pollMs?: number;
  /** Seconds between SIGTERM and SIGKILL when a trial is stopped (default 10). */
  graceSeconds?: number;
  /** Echo trial output, prefixed, to this stream (default stderr); false keeps it in the log files only. */
  echo?: NodeJS.WritableStream | false;
  /** Progress lines (default: to stderr). */
  log?: (line: string) => void;
  /** Abort to stop the sweep: no new trials, running trials are stopped and recorded as killed. */
  signal?: AbortSignal;
}

export interface SweepResult {
  record: SweepRecord;
  runsDir: string;
  aborted: boolean;
}

interface ActiveTrial {
  process: TrialProcess;
  follower: MetricFollower;
  stdoutValues: number[];
  stopReason: "hyperband" | "abort" | null;
  note: string | null;
}

function createStrategy(config: SweepConfig, seed: number): SearchStrategy {
  const parameters = flattenParameters(config.parameters);
  const rng = createRng(seed);
  switch (config.method) {
    case "grid":
      return createGridSearch(parameters);
    case "random":
      return createRandomSearch(parameters, rng);
    case "bayes":
      return createBayesSearch(parameters, config.metric!, rng);
    default:
      throw new FormatError(`method ${config.method} cannot run locally`);
  }
}

function trialLimit(
  config: SweepConfig,
  strategy: SearchStrategy,
  count: number | undefined,
  source: string,
): number {
  const limit = Math.min(config.run_cap ?? Infinity, count ?? Infinity, strategy.size ?? Infinity);
  if (!Number.isFinite(limit)) {
    throw new FormatError(
      `${source}: a ${config.method} sweep never runs out of trials; set run_cap in the config or pass --count`,
    );
  }
  return limit;
}

export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const { config } = options;
  const source = options.source ?? "sweep config";
  const env = options.env ?? process.env;
  const runsDir = resolve(options.runsDir ?? defaultRunsDir(env));
  const parallel = options.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new FormatError(`--parallel must be a positive integer, got ${parallel}`);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const strategy = createStrategy(config, seed);
  const maxTrials = trialLimit(config, strategy, options.count, source);
  const sweepId = options.sweepId ?? `sweep-${generateRunId()}`;
  const group = options.group ?? sweepId;
  const metric = config.metric ?? null;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const echo = options.echo === undefined ? process.stderr : options.echo;
  const pollMs = options.pollMs ?? 1000;
  const graceSeconds = options.graceSeconds ?? 10;
  const command = config.command ?? DEFAULT_COMMAND;

  const dir = sweepDir(runsDir, sweepId);
  if (existsSync(dir)) throw new ConflictError(`sweep ${sweepId} already exists in ${dir}`);
  mkdirSync(dir, { recursive: true });

  const record: SweepRecord = {
    format: 1,
    id: sweepId,
    name: config.name ?? null,
    group,
    method: config.method,
    metric,
    config,
    seed,
    parallel,
    state: "running",
    started_at: new Date().toISOString(),
    ended_at: null,
    trials: [],
    best: null,
  };
  const save = () => writeSweepRecord(runsDir, record);
  save();
  log(
    `lethe-track sweep: ${sweepId} (${config.method}, up to ${maxTrials} trials, ${parallel} at a time) → ${runsDir}`,
  );

  const histories = new Map<string, number[]>();
  const summaries = new Map<string, number | undefined>();
  const active = new Map<string, ActiveTrial>();
  let stopping = false;
  let aborted = false;

  const currentHistory = (runId: string): number[] => {
    const a = active.get(runId);
    if (!a) return histories.get(runId) ?? [];
    const fromRun = a.follower.poll();
    return fromRun.length > 0 ? fromRun : a.stdoutValues;
  };
  const observations = (): TrialObservation[] =>
    record.trials.map((t) => ({
      params: t.params,
      state: t.state,
      history: currentHistory(t.run_id),
      summary: summaries.get(t.run_id),
    }));

  const abort = () => {
    if (aborted) return;
    aborted = true;
    stopping = true;
    log("lethe-track sweep: stopping; sending SIGTERM to running trials");
    for (const trial of active.values()) {
      trial.stopReason ??= "abort";
      trial.process.stop();
    }
  };
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener("abort", abort, { once: true });

  const poller = config.early_terminate
    ? setInterval(() => {
        if (active.size === 0) return;
        const stops = hyperbandStops(
          record.trials.map((t) => ({
            id: t.run_id,
            running: active.has(t.run_id),
            history: currentHistory(t.run_id),
          })),
          config.early_terminate!,
          metric!,
        );
        for (const stop of stops) {
          const trial = active.get(stop.id);
          if (!trial || trial.stopReason !== null) continue;
          trial.stopReason = "hyperband";
          trial.note = `hyperband: ${metric!.name} ${stop.value} at iteration ${stop.band} is worse than ${stop.threshold}`;
          log(`lethe-track sweep: stopping ${stop.id}: ${trial.note}`);
          trial.process.stop();
        }
      }, pollMs)
    : null;

  const runTrial = async (index: number): Promise<void> => {
    if (stopping) return;
    const params = strategy.next(observations());
    if (params === null) return;
    const runId = `${sweepId}-${String(index).padStart(3, "0")}`;
    const paramPath = join(dir, `config-${runId}.yaml`);
    const argsJsonPath = join(dir, `args-${runId}.json`);
    writeSweepParams(
      paramPath,
      Object.fromEntries(Object.entries(params).map(([k, v]) => [k, { value: v }])),
    );
    if (usesArgsJsonFile(command)) writeFileSync(argsJsonPath, JSON.stringify(params));
    const argv = expandCommand(command, { program: config.program, params, argsJsonFile: argsJsonPath, env });
    const project = config.project ?? env["WANDB_PROJECT"] ?? "uncategorized";
    createTrialRun({
      runsDir,
      runId,
      sweepId,
      group,
      project,
      name: runId,
      jobType: "sweep-trial",
      params: params as JsonObject,
    });

    const trial: TrialRecord = {
      index,
      run_id: runId,
      params,
      state: "running",
      exit_code: null,
      metric: null,
      iterations: 0,
      metric_source: null,
      command: argv,
      started_at: new Date().toISOString(),
      ended_at: null,
      note: null,
    };
    record.trials.push(trial);
    save();
    log(
      `lethe-track sweep: ${runId} started: ${Object.entries(params)
        .map(([k, v]) => `${k}=${formatArgValue(v)}`)
        .join(" ")}`,
    );

    const childEnv: NodeJS.ProcessEnv = {
      ...env,
      LETHE_RUNS_DIR: runsDir,
      LETHE_SWEEP_ID: sweepId,
      LETHE_RUN_GROUP: group,
      WANDB_RUN_ID: runId,
      WANDB_RESUME: "allow",
      WANDB_SWEEP_ID: sweepId,
      WANDB_SWEEP_PARAM_PATH: paramPath,
      WANDB_RUN_GROUP: group,
      ...(config.project !== undefined ? { WANDB_PROJECT: config.project } : {}),
    };
    const stdoutValues: number[] = [];
    const trialProcess = new TrialProcess({
      argv,
      cwd: options.cwd ?? process.cwd(),
      env: childEnv,
      logFile: join(dir, `${runId}.log`),
      echoPrefix: echo ? `[${runId}] ` : null,
      ...(echo ? { echo } : {}),
      graceSeconds,
      onStdoutRow: (row) => {
        const v = metric ? row[metric.name] : undefined;
        if (typeof v === "number" && Number.isFinite(v)) stdoutValues.push(v);
      },
    });
    const activeTrial: ActiveTrial = {
      process: trialProcess,
      follower: new MetricFollower(runPaths(join(runsDir, runId)).history, metric?.name ?? "\u0000"),
      stdoutValues,
      stopReason: aborted ? "abort" : null,
      note: null,
    };
    active.set(runId, activeTrial);
    if (aborted) trialProcess.stop();
    const exit = await trialProcess.done;

    const notes: string[] = [];
    if (exit.spawnError !== null) notes.push(`could not start ${argv[0]}: ${exit.spawnError}`);
    // What the child logged itself, read before the controller adds its stdout rows to the run.
    const fromRun = activeTrial.follower.poll();
    let summary: number | undefined;
    try {
      summary = metric ? await readSummaryMetric(join(runsDir, runId), metric.name) : undefined;
    } catch (err) {
      notes.push(`could not read the run's summary: ${errorMessage(err)}`);
    }
    try {
      await finalizeTrialRun(
        runsDir,
        runId,
        stateExitCode(exit.exitCode, activeTrial.stopReason),
        exit.stdoutRows,
      );
    } catch (err) {
      notes.push(`could not close the trial's run: ${errorMessage(err)}`);
    }
    active.delete(runId);
    const fromStdout = fromRun.length === 0 && summary === undefined && stdoutValues.length > 0;
    histories.set(runId, fromStdout ? stdoutValues : fromRun);
    summaries.set(runId, fromStdout ? undefined : summary);

    trial.state = trialState(exit.exitCode, activeTrial.stopReason);
    trial.exit_code = exit.exitCode;
    trial.ended_at = new Date().toISOString();
    trial.iterations = histories.get(runId)!.length;
    if (metric) {
      const observed: TrialObservation = {
        params,
        state: trial.state,
        history: histories.get(runId)!,
        summary: summaries.get(runId),
      };
      trial.metric = metricExtremum(observed, metric.goal) ?? null;
      trial.metric_source = trial.metric === null ? null : fromStdout ? "stdout" : "run";
    }
    if (activeTrial.note) notes.unshift(activeTrial.note);
    if (trial.state === "failed")
      notes.push(`exit code ${exit.exitCode}; output in ${join(dir, `${runId}.log`)}`);
    trial.note = notes.length > 0 ? notes.join("; ") : null;
    record.best = bestTrial(record);
    save();
    log(
      `lethe-track sweep: ${runId} ${trial.state}` +
        (metric && trial.metric !== null ? ` (${metric.name} = ${trial.metric})` : "") +
        (trial.note ? `: ${trial.note}` : ""),
    );
    if (metric?.target !== undefined && trial.metric !== null && trial.state === "finished") {
      const reached =
        metric.goal === "maximize" ? trial.metric >= metric.target : trial.metric <= metric.target;
      if (reached && !stopping) {
        stopping = true;
        log(`lethe-track sweep: ${metric.name} reached the target ${metric.target}; no new trials`);
      }
    }
  };

  // An error of the controller itself (not of a trial: those are recorded) stops the sweep like Ctrl-C
  // would, and is thrown once every running trial has been stopped and recorded.
  let internalError: unknown = null;
  const guarded = async (index: number) => {
    try {
      await runTrial(index);
    } catch (err) {
      if (internalError === null) internalError = err;
      stopping = true;
      for (const trial of active.values()) {
        trial.stopReason ??= "abort";
        trial.process.stop();
      }
    }
  };
  const limit = pLimit(parallel);
  try {
    await Promise.all(Array.from({ length: maxTrials }, (_, i) => limit(() => guarded(i))));
  } finally {
    if (poller) clearInterval(poller);
    options.signal?.removeEventListener("abort", abort);
  }
  if (internalError !== null) {
    record.state = "failed";
    record.ended_at = new Date().toISOString();
    save();
    throw internalError;
  }
  record.state = aborted ? "killed" : "finished";
  record.ended_at = new Date().toISOString();
  record.best = bestTrial(record);
  save();
  return { record, runsDir, aborted };
}

/** A trial stopped by us (hyperband or Ctrl-C) that had to be SIGKILLed still counts as stopped, not failed. */
function stateExitCode(exitCode: number, stopReason: ActiveTrial["stopReason"]): number {
  if (stopReason !== null && exitCode !== 0 && exitCode !== 130 && exitCode !== 143) return 143;
  return exitCode;
}

function trialState(exitCode: number, stopReason: ActiveTrial["stopReason"]): TrialState {
  if (stopReason === "hyperband") return "stopped";
  if (stopReason === "abort") return exitCode === 0 ? "finished" : "killed";
  if (exitCode === 0) return "finished";
  if (exitCode === 130 || exitCode === 143) return "killed";
  return "failed";
}

/** The best finished or hyperband-stopped trial by the metric, as W&B ranks runs. */
export function bestTrial(record: SweepRecord): SweepRecord["best"] {
  if (!record.metric) return null;
  const sign = record.metric.goal === "maximize" ? -1 : 1;
  let best: SweepRecord["best"] = null;
  for (const t of record.trials) {
    if (t.metric === null || (t.state !== "finished" && t.state !== "stopped")) continue;
    if (best === null || sign * t.metric < sign * best.metric) {
      best = { index: t.index, run_id: t.run_id, metric: t.metric, params: t.params };
    }
  }
  return best;
}
