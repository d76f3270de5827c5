/**
 * A run's checkpoints: written at the end of each epoch (with the optimizer state and progress) and read back
 * by `--resume`, which continues with the same weights, moments, schedule position and data order; and the
 * weights of the best evaluation, written once at the end.
 */
import {
  readTrainingState,
  type TrainingCheckpointInput,
  writeTrainingCheckpoint,
} from "./checkpoint/index.js";
import type { TrainContext } from "./train.js";

/** The run's trained parameters, optimizer state and progress as a checkpoint at `uri` (resumable). */
export async function saveCheckpoint(context: TrainContext, uri: string, epochsDone: number): Promise<void> {
  const { config, optimizer } = context;
  await writeTrainingCheckpoint(uri, {
    ...checkpointInput(context, context.params.params),
    resume: {
      optimizer: optimizer.state,
      progress: {
        epoch: epochsDone,
        step: context.step,
        examplesSeen: context.step * config.batch_size * config.grad_accum,
        seeds: { seed: config.seed },
        best: null,
        rng: {
          rmuCoefficients: context.objective.coefficientsSnapshot(),
          dropoutPasses: context.objective.engine.passes,
        },
      },
    },
  });
}

/** Earlier values of the trained parameters (a kept best), as a weights-only checkpoint at `uri`. */
export async function saveWeights(
  context: TrainContext,
  uri: string,
  values: readonly Float32Array[],
): Promise<void> {
  const params = context.params.params.map((p, k) => ({ name: p.name, shape: p.shape, value: values[k]! }));
  await writeTrainingCheckpoint(uri, checkpointInput(context, params));
}

function checkpointInput(
  context: TrainContext,
  params: TrainingCheckpointInput["params"],
): TrainingCheckpointInput {
  const { config, rows } = context;
  const data = [{ role: "forget", uri: rows.files.forget }];
  if (rows.files.retain) data.push({ role: "retain", uri: rows.files.retain });
  const lora = config.params.lora;
  return {
    mode: config.params.mode,
    params,
    source: config.model,
    ...(config.params.mode === "lora"
      ? { lora: { r: lora.r, alpha: lora.alpha, dropout: lora.dropout, target_modules: lora.target_modules } }
      : {}),
    config,
    data,
  };
}

export async function resumeFrom(
  context: TrainContext,
  uri: string,
): Promise<{ epoch: number; step: number }> {
  const state = await readTrainingState(uri);
  for (const p of context.params.params) {
    const saved = state.values.get(p.name);
    if (!saved) throw new Error(`${uri}: no saved value for trainable parameter "${p.name}"`);
    if (saved.length !== p.value.length)
      throw new Error(
        `${uri}: "${p.name}" has ${saved.length} values, the run's parameter ${p.value.length}`,
      );
    p.value.set(saved);
  }
  if (!state.optimizer || !state.progress)
    throw new Error(
      `${uri}: saved without optimizer state; it can start a new run (config model/adapter), not resume one`,
    );
  context.optimizer.load(state.optimizer);
  const passes = state.progress.rng?.["dropoutPasses"];
  if (typeof passes === "number") context.objective.engine.passes = passes;
  const coefficients = state.progress.rng?.["rmuCoefficients"];
  if (coefficients && typeof coefficients === "object")
    context.objective.restoreCoefficients(coefficients as Record<string, number>);
  return { epoch: state.progress.epoch, step: state.progress.step };
}
