/**
 * `readTrainingState`: what a training checkpoint holds for `--resume` — the optimizer's moments and step, the
 * loop's progress, the resolved config, and the trained f32 values by parameter name (to restore the masters).
 * Given the parameters of the run about to resume, it checks them against the checkpoint and puts everything
 * in the run's order, naming the first parameter missing, extra or of another shape.
 */
import {
  type Checkpoint,
  decodeToFloat32,
  FormatError,
  isFloatDType,
  joinSource,
  MANIFEST_FILE,
  type Manifest,
  NotFoundError,
  openCheckpoint,
  type StoreOptions,
} from "@lethe/core";
import { type TrainConfig, trainConfigSchema } from "../config/index.js";
import type { AdamWState } from "../optim/adamw.js";
import { f32Copy, sameShape } from "./tensors.js";
import { readTrainerState, type StoredTrainerState } from "./trainer-state.js";
import { type ParamMode, STATE_FILE, TRAIN_STAGE, type TrainerProgress } from "./types.js";

export interface ParamShape {
  name: string;
  shape: readonly number[];
}

export interface ReadTrainingStateOptions {
  /** The run's parameters in optimizer order (`ParameterSet.params` fits): checked, and the result ordered so. */
  params?: readonly ParamShape[];
  /** The run's mode, checked against the checkpoint's. */
  mode?: ParamMode;
  /** Require the optimizer state and progress (a `--resume`); otherwise they are null when absent. */
  resume?: boolean;
  store?: StoreOptions;
}

export interface TrainingState {
  uri: string;
  manifest: Manifest;
  mode: ParamMode;
  /** The resolved config the run was trained with. */
  config: TrainConfig;
  /** The parameters in optimizer order (the run's, when given). */
  params: ParamShape[];
  /** The f32 masters by parameter name (bit-exact when the checkpoint holds them as f32 or in trainer_state). */
  values: Map<string, Float32Array>;
  /** For AdamW.load; null when the checkpoint was saved without it. */
  optimizer: AdamWState | null;
  progress: TrainerProgress | null;
}

export async function readTrainingState(
  uri: string,
  options: ReadTrainingStateOptions = {},
): Promise<TrainingState> {
  const ckpt = await openCheckpoint(uri, options.store ?? {});
  try {
    const manifestSource = joinSource(ckpt.uri, MANIFEST_FILE);
    if (!ckpt.manifest)
      throw new NotFoundError(`${manifestSource}: missing (not a published training checkpoint)`);
    const manifest = ckpt.manifest;
    if (manifest.stage !== TRAIN_STAGE) {
      throw new FormatError(
        `${manifestSource}: stage is "${manifest.stage}", not "${TRAIN_STAGE}" (not a training checkpoint)`,
      );
    }
    const mode = manifestMode(manifest, manifestSource);
    if (options.mode && options.mode !== mode) {
      throw new FormatError(
        `resume from ${ckpt.uri}: it was trained in ${mode} mode, this run is ${options.mode}`,
      );
    }
    const config = manifestConfig(manifest, manifestSource);
    const stored = await readTrainerState(ckpt.store);
    if (options.resume && !stored) {
      throw new NotFoundError(
        `resume from ${ckpt.uri}: ${joinSource(ckpt.uri, STATE_FILE)} is missing (saved without optimizer state)`,
      );
    }
    if (stored && stored.state.mode !== mode) {
      throw new FormatError(
        `${joinSource(ckpt.uri, STATE_FILE)}: mode ${stored.state.mode} differs from ${mode} in ${MANIFEST_FILE}`,
      );
    }
    const storedParams = stored?.state.params ?? (await trainedShapes(ckpt, manifest, mode, manifestSource));
    const order = options.params ? matchParams(ckpt.uri, storedParams, options.params) : null;
    const params = order ? order.map((k) => storedParams[k]!) : storedParams;
    const values = new Map<string, Float32Array>();
    for (const p of params) values.set(p.name, await trainedValue(ckpt, mode, p, stored));
    const optimizer = stored
      ? {
          step: stored.optimizer.step,
          m: order ? order.map((k) => stored.optimizer.m[k]!) : stored.optimizer.m,
          v: order ? order.map((k) => stored.optimizer.v[k]!) : stored.optimizer.v,
        }
      : null;
    return {
      uri: ckpt.uri,
      manifest,
      mode,
      config,
      params: params.map((p) => ({ name: p.name, shape: [...p.shape] })),
      values,
      optimizer,
      progress: stored ? (stored.state.progress as TrainerProgress) : null,
    };
  } finally {
    ckpt.weights?.close();
    ckpt.adapter?.weights.close();
  }
}

function manifestMode(manifest: Manifest, source: string): ParamMode {
  const mode = manifest.parameters.mode;
  if (mode !== "lora" && mode !== "full" && mode !== "select") {
    throw new FormatError(
      `${source}: field "parameters.mode" must be lora, full or select, got ${JSON.stringify(mode)}`,
    );
  }
  return mode;
}

function manifestConfig(manifest: Manifest, source: string): TrainConfig {
  if (manifest.parameters.config === undefined)
    throw new FormatError(`${source}: field "parameters.config" is missing (the resolved training config)`);
  const parsed = trainConfigSchema.safeParse(manifest.parameters.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FormatError(`${source}: field "parameters.config.${issue.path.join(".")}": ${issue.message}`);
  }
  return parsed.data;
}

/** For each of the run's parameters, its index among the stored ones; the first difference is an error. */
function matchParams(uri: string, stored: readonly ParamShape[], run: readonly ParamShape[]): number[] {
  const index = new Map(stored.map((p, k) => [p.name, k]));
  const runNames = new Set(run.map((p) => p.name));
  const what = `resume from ${uri}`;
  const missing = run.find((p) => !index.has(p.name));
  if (missing) {
    throw new FormatError(
      `${what}: parameter "${missing.name}" of this run is not in the checkpoint (it has ${stored.length} parameters, this run ${run.length})`,
    );
  }
  const extra = stored.find((p) => !runNames.has(p.name));
  if (extra) {
    throw new FormatError(
      `${what}: parameter "${extra.name}" is in the checkpoint but not in this run (it has ${stored.length} parameters, this run ${run.length})`,
    );
  }
  return run.map((p) => {
    const k = index.get(p.name)!;
    const s = stored[k]!;
    if (!sameShape(s.shape, p.shape)) {
      throw new FormatError(
        `${what}: parameter "${p.name}" has shape [${s.shape}] in the checkpoint, [${p.shape}] in this run`,
      );
    }
    return k;
  });
}

/** Without trainer_state: the trained tensors the manifest lists, with the shapes their files give. */
async function trainedShapes(
  ckpt: Checkpoint,
  manifest: Manifest,
  mode: ParamMode,
  source: string,
): Promise<ParamShape[]> {
  const trained = manifest.parameters.trained;
  if (!Array.isArray(trained) || !trained.every((n) => typeof n === "string"))
    throw new FormatError(`${source}: field "parameters.trained" must be a list of tensor names`);
  const weights = weightsOf(ckpt, mode);
  const out: ParamShape[] = [];
  for (const name of trained as string[]) {
    if (!weights.has(name))
      throw new FormatError(`${source}: trained tensor "${name}" is not in the checkpoint's weights`);
    out.push({ name, shape: (await weights.entry(name)).shape });
  }
  return out;
}

function weightsOf(ckpt: Checkpoint, mode: ParamMode) {
  const weights = mode === "lora" ? ckpt.adapter?.weights : ckpt.weights;
  if (!weights) {
    throw new NotFoundError(
      `${ckpt.uri}: no ${mode === "lora" ? "adapter_model.safetensors" : "model weights"} (a ${mode} checkpoint)`,
    );
  }
  return weights;
}

async function trainedValue(
  ckpt: Checkpoint,
  mode: ParamMode,
  p: ParamShape,
  stored: StoredTrainerState | null,
): Promise<Float32Array> {
  const master = stored?.masters.get(p.name);
  if (master) return master;
  const weights = weightsOf(ckpt, mode);
  const file = mode === "lora" ? "adapter_model.safetensors" : "the weights";
  if (!weights.has(p.name))
    throw new FormatError(`${joinSource(ckpt.uri, file)}: trained tensor "${p.name}" is missing`);
  const t = await weights.readTensor(p.name);
  const where = joinSource(ckpt.uri, (await weights.entry(p.name)).file);
  if (!sameShape(t.shape, p.shape))
    throw new FormatError(`${where}: tensor "${p.name}" has shape [${t.shape}], expected [${p.shape}]`);
  if (t.dtype === "F32") return f32Copy(t, where, p.name);
  if (stored) {
    throw new FormatError(
      `${where}: tensor "${p.name}" is ${t.dtype} and ${STATE_FILE} lists no f32 master for it`,
    );
  }
  if (!isFloatDType(t.dtype))
    throw new FormatError(`${where}: tensor "${p.name}" is ${t.dtype}, not a float`);
  return decodeToFloat32(t.data, t.dtype);
}
