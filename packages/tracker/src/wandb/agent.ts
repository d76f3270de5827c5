/**
 * `lethe-track agent SWEEP_ID`: a W&B sweep agent. The W&B server runs the search (grid, random, bayes,
 * hyperband); the agent registers (CreateAgent), heartbeats every few seconds with the runs it has alive,
 * and obeys the commands that come back: `run` starts a trial process with the sampled parameters,
 * `stop` terminates one (SIGTERM, SIGKILL after a grace period), `exit` kills all and quits. Agents on many
 * machines can work the same sweep; their trials write checkpoints to a shared (S3) store and report
 * metrics to W&B through the tracker, which is where the controller reads them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { FormatError, LetheError } from "@lethe/core";
import { parse } from "yaml";
import { parseTrackerSpec } from "../backends/select.js";
import { assertSafeName, defaultRunsDir } from "../local/layout.js";
import { type ClientOptions, WandbClient } from "./client.js";
import { type WandbSettings, wandbSettings } from "./env.js";
import { type AgentCommand, agentHeartbeat, createAgent, readSweep, viewerEntity } from "./operations.js";
import { HttpStatusError, sleep } from "./retry.js";
import { writeSweepParams } from "./sweep-params.js";

export interface AgentOptions {
  /** `id`, `project/id` or `entity/project/id`. */
  sweepId: string;
  /** Stop after this many trials have ended. */
  count?: number;
  entity?: string;
  project?: string;
  /** Default: from the WANDB_* environment. */
  settings?: WandbSettings;
  client?: Partial<ClientOptions>;
  /** Heartbeat period (W&B: 5 s). A trial that ends triggers the next heartbeat at once. */
  heartbeatMs?: number;
  /** Time between SIGTERM and SIGKILL when a trial is stopped (W&B: 30 s). */
  stopGraceMs?: number;
  /** Where the per-trial parameter files go (under sweep-<id>/); default LETHE_RUNS_DIR or ./runs. */
  runsDir?: string;
  cwd?: string;
  /** The trials' base environment (default process.env). */
  env?: NodeJS.ProcessEnv;
  stdio?: "inherit" | "ignore";
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export interface TrialResult {
  runId: string;
  args: Record<string, unknown>;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the agent stopped it (a stop or exit command, or the agent shutting down). */
  stopped: boolean;
}

export interface AgentResult {
  agentId: string;
  trials: TrialResult[];
  reason: "count" | "exit" | "deleted" | "flapping" | "aborted";
}

/** W&B's flapping check: this many failed trials within the first minute stop the agent. */
const FLAPPING_MAX_FAILURES = 3;
const FLAPPING_WINDOW_MS = 60_000;
// biome-ignore lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
const DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"];

interface Trial {
  runId: string;
  child: ChildProcess;
  args: Record<string, unknown>;
  exited: Promise<TrialResult>;
  stopped: boolean;
  killTimer: NodeJS.Timeout | null;
}

export function parseSweepPath(path: string): {
  entity: string | null;
  project: string | null;
  sweep: string;
} {
  const parts = path.split("/").filter((p) => p.length > 0);
  if (parts.length === 0 || parts.length > 3) {
    throw new FormatError(`sweep id ${JSON.stringify(path)}: expected ID, PROJECT/ID or ENTITY/PROJECT/ID`);
  }
  const sweep = parts[parts.length - 1]!;
  assertSafeName("sweep id", sweep);
  return {
    entity: parts.length === 3 ? parts[0]! : null,
    project: parts.length >= 2 ? parts[parts.length - 2]! : null,
    sweep,
  };
}

/** How a program is started for ${interpreter}: by its extension, Node for anything else. */
export function interpreterFor(program: string): string[] {
  if (program.endsWith(".py")) return ["python"];
  if (program.endsWith(".sh")) return ["bash"];
  if (/\.[mc]?ts$/.test(program)) return [process.execPath, "--import", "tsx"];
  return [process.execPath];
}

function formatArg(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Expand the sweep's `command` template (W&B's macros) into an argv. */
export function buildTrialCommand(
  template: string[] | null,
  program: string,
  args: Record<string, unknown>,
  argsJsonFile: () => string,
): string[] {
  const macros: Record<string, () => string[]> = {
    env: () => (process.platform === "win32" ? [] : ["/usr/bin/env"]),
    interpreter: () => interpreterFor(program),
    program: () => [program],
    args: () => Object.entries(args).map(([k, v]) => `--${k}=${formatArg(v)}`),
    args_no_hyphens: () => Object.entries(args).map(([k, v]) => `${k}=${formatArg(v)}`),
    args_json: () => [JSON.stringify(args)],
    args_json_file: () => [argsJsonFile()],
  };
  const argv: string[] = [];
  for (const part of template ?? DEFAULT_COMMAND) {
    const macro = /^\$\{(\w+)\}$/.exec(part)?.[1];
    if (macro === undefined) argv.push(part);
    else if (macros[macro]) argv.push(...macros[macro]!());
    else throw new FormatError(`sweep command: unknown macro ${part}`);
  }
  if (argv.length === 0) throw new FormatError("sweep command: expands to nothing");
  return argv;
}

/** The trial must report to W&B, where the sweep controller reads its metrics. */
function trackerWithWandb(spec: string | undefined): string {
  const names = parseTrackerSpec(spec);
  return (names.includes("wandb") ? names : [...names, "wandb"]).join(",");
}

export async function runAgent(options: AgentOptions): Promise<AgentResult> {
  const settings = options.settings ?? wandbSettings(options.env ?? process.env);
  if (settings.apiKey === null)
    throw new LetheError(`W&B: no API key for ${settings.baseUrl}: set WANDB_API_KEY`);
  const log = options.log ?? ((message: string) => process.stderr.write(`lethe-track agent: ${message}\n`));
  const { signal } = options;
  const client = new WandbClient(settings.baseUrl, settings.apiKey, { warn: log, ...options.client });
  const path = parseSweepPath(options.sweepId);
  const entity = path.entity ?? options.entity ?? settings.entity ?? (await viewerEntity(client, signal));
  const project = path.project ?? options.project ?? settings.project;
  if (project === null)
    throw new FormatError(`sweep ${path.sweep}: no project; pass PROJECT/ID or set WANDB_PROJECT`);

  const sweep = await readSweep(client, entity, project, path.sweep, signal);
  const sweepConfig = (parse(sweep.config) ?? {}) as { command?: unknown; program?: unknown };
  const template = Array.isArray(sweepConfig.command) ? sweepConfig.command.map(String) : null;
  const agentId = await createAgent(client, { host: hostname(), entity, project, sweep: path.sweep }, signal);
  log(`agent ${agentId} working on sweep ${entity}/${project}/${path.sweep}`);

  const baseEnv = options.env ?? process.env;
  const scratch = join(resolve(options.runsDir ?? defaultRunsDir(baseEnv)), `sweep-${path.sweep}`);
  const stopGraceMs = options.stopGraceMs ?? 30_000;
  const running = new Map<string, Trial>();
  const trials: TrialResult[] = [];
  const started = Date.now();
  const flappingCheck = baseEnv["WANDB_AGENT_DISABLE_FLAPPING"] !== "true";
  let failures = 0;
  let wake: (() => void) | null = null;
  let trialEnded = false;
  /** Wait for the next heartbeat, or less: until a trial ends or the agent is aborted. */
  const pause = async (ms: number): Promise<void> => {
    if (trialEnded) {
      trialEnded = false;
      return;
    }
    const interrupt = new AbortController();
    const onAbort = (): void => interrupt.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    wake = onAbort;
    await sleep(ms, interrupt.signal).catch(() => {});
    signal?.removeEventListener("abort", onAbort);
    wake = null;
    trialEnded = false;
  };

  const startTrial = (command: AgentCommand): void => {
    const runId = command.run_id;
    if (typeof runId !== "string")
      throw new FormatError(`W&B run command without run_id: ${JSON.stringify(command)}`);
    assertSafeName("run id", runId);
    const args: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(command.args ?? {})) args[key] = entry?.value;
    const program = typeof command.program === "string" ? command.program : String(sweepConfig.program ?? "");
    mkdirSync(scratch, { recursive: true });
    const paramPath = join(scratch, `config-${runId}.yaml`);
    writeSweepParams(paramPath, command.args ?? {});
    const argv = buildTrialCommand(template, program, args, () => {
      const file = join(scratch, `args-${runId}.json`);
      writeFileSync(file, JSON.stringify(args));
      return file;
    });
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      ...(command.env ?? {}),
      WANDB_SWEEP_ID: path.sweep,
      WANDB_RUN_ID: runId,
      WANDB_SWEEP_PARAM_PATH: paramPath,
      WANDB_ENTITY: entity,
      WANDB_PROJECT: project,
      WANDB_BASE_URL: settings.baseUrl,
      WANDB_API_KEY: settings.apiKey!,
      WANDB_MODE: "online",
      LETHE_TRACKER: trackerWithWandb(baseEnv["LETHE_TRACKER"]),
    };
    log(`starting run ${runId}: ${argv.join(" ")}`);
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd ?? process.cwd(),
      env,
      stdio: options.stdio ?? "inherit",
      detached: process.platform !== "win32",
    });
    const trial: Trial = { runId, child, args, stopped: false, killTimer: null, exited: null as never };
    trial.exited = new Promise<TrialResult>((resolveExit) => {
      const done = (exitCode: number | null, exitSignal: NodeJS.Signals | null): void => {
        if (trial.killTimer) clearTimeout(trial.killTimer);
        running.delete(runId);
        const result: TrialResult = { runId, args, exitCode, signal: exitSignal, stopped: trial.stopped };
        trials.push(result);
        if (!trial.stopped && (exitCode === null || exitCode !== 0)) failures++;
        log(`run ${runId} ended (${exitSignal ?? `exit code ${exitCode}`})`);
        resolveExit(result);
        trialEnded = true;
        wake?.();
      };
      child.once("exit", done);
      child.once("error", (err) => {
        log(`run ${runId} could not start: ${err.message}`);
        done(127, null);
      });
    });
    running.set(runId, trial);
  };

  const signalTrial = (trial: Trial, sig: NodeJS.Signals): void => {
    try {
      if (process.platform !== "win32" && trial.child.pid !== undefined) process.kill(-trial.child.pid, sig);
      else trial.child.kill(sig);
    } catch {
      // already gone
    }
  };

  const stopTrial = (trial: Trial, graceMs: number): void => {
    if (trial.stopped) return;
    trial.stopped = true;
    signalTrial(trial, "SIGTERM");
    trial.killTimer = setTimeout(() => signalTrial(trial, "SIGKILL"), graceMs);
  };

  let reason: AgentResult["reason"] | null = null;
  try {
    while (reason === null) {
      if (signal?.aborted) reason = "aborted";
      else if (
        flappingCheck &&
        failures >= FLAPPING_MAX_FAILURES &&
        Date.now() - started < FLAPPING_WINDOW_MS
      ) {
        log(
          `${failures} trials failed within the first ${FLAPPING_WINDOW_MS / 1000} s; stopping (WANDB_AGENT_DISABLE_FLAPPING=true disables this)`,
        );
        reason = "flapping";
      } else if (options.count !== undefined && trials.length >= options.count) reason = "count";
      if (reason !== null) break;

      const runState = Object.fromEntries([...running.keys()].map((id) => [id, true]));
      let commands: AgentCommand[];
      try {
        commands = await agentHeartbeat(client, agentId, runState, signal);
      } catch (err) {
        if (signal?.aborted) {
          reason = "aborted";
          break;
        }
        if (err instanceof HttpStatusError && err.status === 404) {
          log(`sweep ${path.sweep} no longer exists`);
          reason = "deleted";
          break;
        }
        throw err;
      }
      for (const command of commands) {
        if (command.type === "run" || command.type === "resume") {
          if (options.count !== undefined && trials.length + running.size >= options.count) continue;
          startTrial(command);
        } else if (command.type === "stop") {
          const trial = typeof command.run_id === "string" ? running.get(command.run_id) : undefined;
          if (trial) stopTrial(trial, stopGraceMs);
          else log(`stop: run ${String(command.run_id)} is not running here`);
        } else if (command.type === "exit") {
          for (const trial of running.values()) stopTrial(trial, 0);
          reason = "exit";
        } else {
          log(`ignoring unknown command ${JSON.stringify(command.type)}`);
        }
      }
      if (reason !== null) break;
      await pause(options.heartbeatMs ?? 5000);
    }
  } finally {
    for (const trial of running.values()) stopTrial(trial, stopGraceMs);
    await Promise.all([...running.values()].map((t) => t.exited));
  }
  return { agentId, trials, reason };
}
