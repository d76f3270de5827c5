/**
 * The Run API. `startRun` picks the backends (options, else LETHE_TRACKER, else local), creates or
 * resumes the run directory, and returns a Run whose calls fan out to every backend in order:
 *
 *   const run = await startRun({ project: "lethe", name: "npo-lr1e-5", config: { lr: 1e-5 } });
 *   run.log({ loss: 0.93 }, { step: 10 });
 *   await run.finish();
 *
 * W&B's run variables are honoured (WANDB_RUN_ID, WANDB_PROJECT, WANDB_NAME, WANDB_RUN_GROUP,
 * WANDB_JOB_TYPE, WANDB_TAGS, WANDB_NOTES, WANDB_RESUME, WANDB_SWEEP_ID, WANDB_SWEEP_PARAM_PATH), with
 * options taking precedence, so a trial started by a sweep agent joins its sweep with the sampled config.
 */
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { ConflictError, FormatError, LetheError, NotFoundError } from "@lethe/core";
import { LocalBackend, type ResumedRun } from "./backends/local.js";
import { NoneBackend } from "./backends/none.js";
import { type BackendName, parseTrackerSpec } from "./backends/select.js";
import type { Backend, RunInfo } from "./backends/types.js";
import { WandbBackend, type WandbBackendOptions } from "./backends/wandb.js";
import { unwatchForExit, watchForExit } from "./exit-hooks.js";
import { assertSafeName, defaultRunsDir, LAYOUT_VERSION, runDir, runPaths } from "./local/layout.js";
import type { ArtifactRecord, HistoryRow, JsonObject, RunMeta, TableData } from "./types.js";
import { type WandbSettings, wandbRunEnv, wandbSettings } from "./wandb/env.js";
import { readSweepParams } from "./wandb/sweep-params.js";

export type ResumeMode = "allow" | "must" | "never";

export interface StartRunOptions {
  project?: string;
  name?: string;
  group?: string;
  tags?: string[];
  config?: JsonObject;
  job_type?: string;
  notes?: string;
  /** Run id (the directory name and W&B run name); default WANDB_RUN_ID, else 8 random characters. */
  id?: string;
  /** Continue an existing run with this id: true/"allow" if it exists, "must" requires it. Default never. */
  resume?: boolean | ResumeMode;
  /** Backends, overriding LETHE_TRACKER: "local", "wandb", "local,wandb", "none", or a list. */
  tracker?: string | BackendName[];
  /** Extra backends of your own, after the built-in ones. */
  backends?: Backend[];
  /** Default LETHE_RUNS_DIR, else ./runs. */
  runsDir?: string;
  /** W&B settings over the WANDB_* environment, and upload tuning. */
  wandb?: WandbBackendOptions & { settings?: Partial<WandbSettings> };
  /** The environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Finish the run when the process ends without finish() (default true). */
  exitHandlers?: boolean;
}

const RESERVED_KEYS = new Set(["_step", "_runtime", "_timestamp"]);

export function generateRunId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join("");
}

function assertJsonObject(what: string, value: unknown): asserts value is JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FormatError(
      `${what}: expected an object of values, got ${Array.isArray(value) ? "an array" : String(value)}`,
    );
  }
  try {
    JSON.stringify(value);
  } catch (err) {
    throw new FormatError(`${what}: values must be JSON-serialisable (${(err as Error).message})`);
  }
}

function resumeMode(value: boolean | string | null | undefined): ResumeMode {
  if (value === undefined || value === null || value === false || value === "never") return "never";
  if (value === true || value === "allow" || value === "auto") return "allow";
  if (value === "must") return "must";
  throw new FormatError(`resume: expected allow, must or never, got ${JSON.stringify(value)}`);
}

/** The run's config; `update` merges keys into it and reaches every backend. */
export class RunConfig {
  constructor(
    private values: JsonObject,
    private readonly onChange: (config: JsonObject) => void,
  ) {}

  get(key: string): unknown {
    return this.values[key];
  }

  /** A copy of all values. */
  toJSON(): JsonObject {
    return { ...this.values };
  }

  update(values: JsonObject): void {
    assertJsonObject("run.config.update", values);
    this.values = { ...this.values, ...values };
    this.onChange(this.toJSON());
  }
}

export class Run {
  readonly config: RunConfig;
  private lastStep: number;
  private readonly runtimeOffset: number;
  private readonly startedMs = Date.now();
  private summaryValues: JsonObject;
  private finishing: Promise<void> | null = null;

  /** @internal use startRun */
  constructor(
    readonly info: RunInfo,
    private readonly backends: Backend[],
    resumed: ResumedRun | null,
  ) {
    this.config = new RunConfig(info.config, (config) => {
      this.assertOpen("run.config.update");
      for (const backend of this.backends) backend.config(config);
    });
    this.lastStep = resumed?.lastRow?._step ?? -1;
    this.runtimeOffset = resumed?.lastRow?._runtime ?? 0;
    this.summaryValues = { ...(resumed?.summary ?? {}) };
  }

  get id(): string {
    return this.info.id;
  }
  get project(): string {
    return this.info.project;
  }
  get name(): string {
    return this.info.name;
  }
  /** The run directory, or null with LETHE_TRACKER=none. */
  get dir(): string | null {
    return this.info.dir;
  }
  /** The last logged step (-1 before the first row). */
  get step(): number {
    return this.lastStep;
  }
  get finished(): boolean {
    return this.finishing !== null;
  }
  get backendKinds(): string[] {
    return this.backends.map((b) => b.kind);
  }
  /** The run's page on W&B, when it reports there. */
  get url(): string | null {
    const wandb = this.backends.find((b): b is WandbBackend => b instanceof WandbBackend);
    return wandb?.url ?? null;
  }

  /**
   * Append one history row. `step` defaults to the last step + 1 and may repeat the last step (an eval
   * logged at the training step it belongs to), never go back.
   */
  log(metrics: JsonObject, options: { step?: number } = {}): void {
    this.assertOpen("run.log");
    assertJsonObject("run.log", metrics);
    for (const key of Object.keys(metrics)) {
      if (RESERVED_KEYS.has(key))
        throw new FormatError(`run.log: key ${key} is reserved; pass the step as { step }`);
    }
    let step = this.lastStep + 1;
    if (options.step !== undefined) {
      if (!Number.isSafeInteger(options.step) || options.step < 0) {
        throw new FormatError(`run.log: step must be a non-negative integer, got ${options.step}`);
      }
      if (options.step < this.lastStep) {
        throw new FormatError(
          `run.log: step ${options.step} is before the last logged step ${this.lastStep}`,
        );
      }
      step = options.step;
    }
    const now = Date.now();
    const runtime = Math.round((this.runtimeOffset + (now - this.startedMs) / 1000) * 1000) / 1000;
    const row: HistoryRow = { ...metrics, _step: step, _runtime: runtime, _timestamp: now / 1000 };
    this.lastStep = step;
    this.summaryValues = { ...this.summaryValues, ...metrics };
    for (const backend of this.backends) backend.log(row);
    for (const backend of this.backends) backend.summary(this.summaryValues);
  }

  /** Set summary values (the final numbers of a run); later log() calls overwrite keys they share. */
  summary(values: JsonObject): void {
    this.assertOpen("run.summary");
    assertJsonObject("run.summary", values);
    this.summaryValues = { ...this.summaryValues, ...values };
    for (const backend of this.backends) backend.summary(this.summaryValues);
  }

  /** A copy of the current summary. */
  currentSummary(): JsonObject {
    return { ...this.summaryValues };
  }

  /** Record a table (W&B Table); a second call with the same name replaces it. */
  table(name: string, columns: string[], rows: unknown[][]): void {
    this.assertOpen("run.table");
    assertSafeName("table name", name);
    if (!Array.isArray(columns) || columns.some((c) => typeof c !== "string")) {
      throw new FormatError(`run.table ${name}: columns must be a list of strings`);
    }
    if (!Array.isArray(rows)) throw new FormatError(`run.table ${name}: rows must be a list of lists`);
    rows.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== columns.length) {
        throw new FormatError(
          `run.table ${name}: row ${i} has ${Array.isArray(row) ? row.length : "no"} cells, expected ${columns.length}`,
        );
      }
    });
    const table: TableData = { columns: [...columns], data: rows.map((row) => [...row]) };
    try {
      JSON.stringify(table);
    } catch (err) {
      throw new FormatError(`run.table ${name}: cells must be JSON-serialisable (${(err as Error).message})`);
    }
    for (const backend of this.backends) backend.table(name, table);
  }

  /** Record a reference to a checkpoint (or any object) by URI; nothing is copied. */
  artifact(name: string, type: string, uri: string, metadata: JsonObject = {}): void {
    this.assertOpen("run.artifact");
    assertSafeName("artifact name", name);
    assertSafeName("artifact type", type);
    if (typeof uri !== "string" || uri.length === 0)
      throw new FormatError(`run.artifact ${name}: uri must be a non-empty string`);
    assertJsonObject(`run.artifact ${name} metadata`, metadata);
    const record: ArtifactRecord = {
      name,
      type,
      uri,
      metadata: { ...metadata },
      step: this.lastStep,
      logged_at: new Date().toISOString(),
    };
    for (const backend of this.backends) backend.artifact(record);
  }

  /**
   * End the run with an exit code (0 = success). The local backend writes its final state first, then
   * the others finish (W&B uploads what is left). Calling it again returns the same promise.
   */
  finish(exitCode = 0): Promise<void> {
    if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
      throw new FormatError(`run.finish: exit code must be an integer 0-255, got ${exitCode}`);
    }
    this.finishing ??= this.finishBackends(exitCode);
    return this.finishing;
  }

  /** @internal from the process 'exit' event */
  finishSync(exitCode: number): void {
    for (const backend of this.backends) backend.finishSync?.(exitCode);
  }

  private async finishBackends(exitCode: number): Promise<void> {
    const errors: unknown[] = [];
    for (const backend of this.backends) {
      try {
        await backend.finish(exitCode);
      } catch (err) {
        errors.push(err);
      }
    }
    unwatchForExit(this);
    if (errors.length > 0) throw errors[0];
  }

  private assertOpen(what: string): void {
    if (this.finishing !== null) throw new LetheError(`${what}: run ${this.info.id} is finished`);
  }
}

export async function startRun(options: StartRunOptions = {}): Promise<Run> {
  const env = options.env ?? process.env;
  const names = parseTrackerSpec(
    options.tracker ?? env["LETHE_TRACKER"],
    options.tracker !== undefined ? "startRun tracker option" : "LETHE_TRACKER",
  );
  const runEnv = wandbRunEnv(env);
  let settings: WandbSettings | null = null;
  if (names.includes("wandb")) {
    settings = wandbSettings(env, options.wandb?.settings);
    if (settings.mode === "disabled") settings = null;
  }
  const keepDir = names.includes("local") || settings !== null;

  // A trial started by a sweep agent belongs to the agent's run id and project, whatever the script
  // passes (the Python client ignores those init() arguments in a sweep too).
  const inSweep = runEnv.sweepId !== null;
  const envProject = env["WANDB_PROJECT"] || null;
  const id = (inSweep ? runEnv.runId : null) ?? options.id ?? runEnv.runId ?? generateRunId();
  assertSafeName("run id", id);
  const project = (inSweep ? envProject : null) ?? options.project ?? envProject ?? "uncategorized";
  const sweepParams = runEnv.sweepParamPath !== null ? readSweepParams(runEnv.sweepParamPath) : {};
  if (options.config !== undefined) assertJsonObject("startRun config", options.config);
  const config: JsonObject = { ...(options.config ?? {}), ...sweepParams };
  const mode = resumeMode(options.resume ?? runEnv.resume);

  const meta: RunMeta = {
    format: LAYOUT_VERSION,
    id,
    project,
    name: options.name ?? runEnv.name ?? id,
    group: options.group ?? runEnv.group,
    tags: options.tags ?? runEnv.tags ?? [],
    job_type: options.job_type ?? runEnv.jobType,
    notes: options.notes ?? runEnv.notes,
    sweep: runEnv.sweepId,
    state: "running",
    started_at: new Date().toISOString(),
    ended_at: null,
    exit_code: null,
    host: hostname(),
    pid: process.pid,
    backends: [
      ...(keepDir ? ["local"] : []),
      ...(settings ? ["wandb"] : []),
      ...(options.backends ?? []).map((b) => b.kind),
    ],
  };

  let dir: string | null = null;
  let local: LocalBackend | null = null;
  let resumed: ResumedRun | null = null;
  let created = false;
  if (keepDir) {
    dir = runDir(resolve(options.runsDir ?? defaultRunsDir(env)), id);
    const exists = existsSync(runPaths(dir).meta);
    if (exists && mode === "never")
      throw new ConflictError(`run ${id} already exists in ${dir}; pass resume to continue it`);
    if (!exists && mode === "must")
      throw new NotFoundError(`run ${id} cannot be resumed: ${dir} holds no run`);
    if (exists) {
      const { started_at: _s, state: _st, ...update } = meta;
      ({ backend: local, resumed } = LocalBackend.reopen(dir, update));
      const merged = { ...resumed.config, ...config };
      if (JSON.stringify(merged) !== JSON.stringify(resumed.config)) local.config(merged);
      Object.assign(config, merged);
    } else {
      local = LocalBackend.create(dir, meta, config);
      created = true;
    }
  }

  const backends: Backend[] = [];
  if (local !== null) backends.push(local);
  if (settings !== null) backends.push(new WandbBackend(settings, options.wandb));
  backends.push(...(options.backends ?? []));
  if (backends.length === 0) backends.push(new NoneBackend());

  const info: RunInfo = {
    id,
    project,
    name: resumed?.meta.name ?? meta.name,
    group: meta.group,
    tags: meta.tags,
    jobType: meta.job_type,
    notes: meta.notes,
    sweep: meta.sweep,
    config: { ...config },
    dir,
    resumed: resumed !== null,
  };
  try {
    for (const backend of backends) await backend.start?.(info);
  } catch (err) {
    if (created && dir !== null) {
      local?.finishSync(1);
      rmSync(dir, { recursive: true, force: true });
    } else {
      local?.finishSync(1);
    }
    throw err;
  }
  const run = new Run(info, backends, resumed);
  if (options.exitHandlers !== false) watchForExit(run);
  return run;
}
