/**
 * The run every Lethe stage records (lethe-model init, lethe-merge, lethe-eval, ...): opened when the work
 * starts, with the stage's typed options as config, so the run shows progress while it goes and a real
 * duration; closed with the real exit status (the exit hooks close it with 1, 130 or 143 when the stage
 * fails or is interrupted). Backends follow LETHE_TRACKER (local by default; `none` records nothing).
 *
 * Checkpoints go in as artifacts so the dashboard's lineage view links data → base → merged → evaluated:
 * inputs with `role: "input"`, outputs with `role: "output"` and their inputs as `parents`.
 */
import { type Run, startRun } from "./run.js";
import type { JsonObject } from "./types.js";

export interface StageCheckpoint {
  /** Artifact name ([A-Za-z0-9._-]); the URI's last path segment when absent. */
  name?: string;
  uri: string;
  /** model, dataset, evaluation, ... (default model). */
  type?: string;
}

/**
 * The stage's run, named after what it works on (`merge merged`, `eval merged`) unless WANDB_NAME names it;
 * inside a sweep trial whose program is the stage itself, it is the trial's run (the sweep's variables).
 */
export async function startStageRun(
  jobType: string,
  config: JsonObject,
  subject: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Run> {
  // A run named by its environment (a sweep trial's WANDB_RUN_ID / WANDB_NAME) keeps that name.
  const named = Boolean(env["WANDB_RUN_ID"] || env["WANDB_NAME"]);
  return startRun({
    project: "lethe",
    job_type: jobType,
    config,
    env,
    ...(named ? {} : { name: `${jobType} ${artifactName(subject)}` }),
  });
}

/**
 * A name the tracker accepts, from a URI: `s3://b/runs/merged/` → `merged`. A training run's checkpoints
 * (`OUT/final`, `OUT/best`, `OUT/epoch-3`) are named with their run's folder: `zju-over-final`.
 */
export function artifactName(uri: string): string {
  const parts = uri.replace(/\/+$/, "").split("/");
  const last = parts.pop() ?? "";
  const inRun = /^(final|best|epoch-\d+)$/.test(last) && parts.length > 0 ? `${parts.pop()}-${last}` : last;
  const name = inRun.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[^A-Za-z0-9]+/, "");
  return (name || "checkpoint").slice(0, 128);
}

export function recordInputs(run: Run, inputs: readonly StageCheckpoint[]): void {
  for (const input of inputs) {
    run.artifact(input.name ?? artifactName(input.uri), input.type ?? "model", input.uri, { role: "input" });
  }
}

export function recordOutput(
  run: Run,
  output: StageCheckpoint,
  parents: readonly string[],
  metadata: JsonObject = {},
): void {
  run.artifact(output.name ?? artifactName(output.uri), output.type ?? "model", output.uri, {
    ...metadata,
    role: "output",
    parents: [...parents],
  });
}

/** `(stage, done, total)` progress as history rows, `{"progress/generate_forget": 0.5}`, at most one per `everyMs`. */
export function progressLogger(
  run: Run,
  everyMs = 1000,
): (stage: string, done: number, total: number) => void {
  let last = 0;
  return (stage, done, total) => {
    const now = Date.now();
    if (done < total && now - last < everyMs) return;
    last = now;
    const key = stage.toLowerCase().replace(/[^a-z0-9]+/g, "_");
    run.log({ [`progress/${key}`]: total === 0 ? 1 : done / total });
  };
}
