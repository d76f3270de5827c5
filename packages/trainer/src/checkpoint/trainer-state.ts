/**
 * `trainer_state/`: what `--resume` needs besides the published weights. `optimizer.safetensors` holds AdamW's
 * moments as `m.NAME` and `v.NAME` (f32, bit for bit), `masters.safetensors` the f32 masters of tensors the
 * weights hold rounded (bf16/f16 checkpoints), and `state.json` the step, the progress and the parameter list
 * in optimizer order.
 */
import {
  bytesOf,
  FormatError,
  joinSource,
  NotFoundError,
  SafetensorsFile,
  SafetensorsWriter,
  type Store,
} from "@lethe/core";
import type { AdamWState } from "../optim/adamw.js";
import { checkProgress, parseStateFile, type StateFile } from "./state-file.js";
import { checkTensor, f32Copy, sameShape } from "./tensors.js";
import {
  MASTERS_FILE,
  OPTIMIZER_FILE,
  type ParamMode,
  type ResumeState,
  STATE_FILE,
  STATE_FORMAT,
  STATE_VERSION,
  type TrainedTensor,
} from "./types.js";

export async function writeTrainerState(
  store: Store,
  mode: ParamMode,
  params: readonly TrainedTensor[],
  resume: ResumeState,
  masters: readonly TrainedTensor[],
): Promise<void> {
  const { optimizer } = resume;
  const progress = checkProgress(resume.progress, `${joinSource(store.uri, STATE_FILE)}: progress`);
  if (optimizer.m.length !== params.length || optimizer.v.length !== params.length) {
    throw new FormatError(
      `${joinSource(store.uri, OPTIMIZER_FILE)}: the optimizer state has ${optimizer.m.length} m and ${optimizer.v.length} v tensors for ${params.length} parameters`,
    );
  }
  const moments: TrainedTensor[] = params.flatMap((p, k) => [
    { name: `m.${p.name}`, shape: p.shape, value: optimizer.m[k]! },
    { name: `v.${p.name}`, shape: p.shape, value: optimizer.v[k]! },
  ]);
  await writeF32File(store, OPTIMIZER_FILE, moments);
  if (masters.length > 0) await writeF32File(store, MASTERS_FILE, masters);
  const state: StateFile = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    mode,
    optimizerStep: optimizer.step,
    progress: progress as StateFile["progress"],
    params: params.map((p) => ({ name: p.name, shape: [...p.shape] })),
    masters: masters.map((p) => p.name),
  };
  await store.put(STATE_FILE, new TextEncoder().encode(`${JSON.stringify(state, null, 2)}\n`));
}

async function writeF32File(store: Store, key: string, tensors: readonly TrainedTensor[]): Promise<void> {
  const source = joinSource(store.uri, key);
  for (const t of tensors) checkTensor(t, source);
  const writer = new SafetensorsWriter(
    store.createWriter(key),
    tensors.map((t) => ({ name: t.name, dtype: "F32" as const, shape: [...t.shape] })),
    { metadata: { format: "pt" }, source },
  );
  const byName = new Map(tensors.map((t) => [t.name, t]));
  try {
    for (const name of writer.order) await writer.writeTensor(name, bytesOf(byName.get(name)!.value));
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

export interface StoredTrainerState {
  state: StateFile;
  /** m and v in the order of `state.params`. */
  optimizer: AdamWState;
  /** f32 masters of the tensors the weights hold rounded. */
  masters: Map<string, Float32Array>;
}

/** Reads trainer_state/ of a checkpoint, or null when it has none (a checkpoint saved without resume state). */
export async function readTrainerState(store: Store): Promise<StoredTrainerState | null> {
  if (!(await store.head(STATE_FILE))) return null;
  const state = parseStateFile(await store.get(STATE_FILE), joinSource(store.uri, STATE_FILE));
  const optimizerFile = await openRequired(store, OPTIMIZER_FILE);
  const expected = new Set<string>();
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (const p of state.params) {
    for (const [prefix, out] of [
      ["m", m],
      ["v", v],
    ] as const) {
      const name = `${prefix}.${p.name}`;
      expected.add(name);
      out.push(await readF32(optimizerFile, name, p.shape));
    }
  }
  rejectExtra(optimizerFile, expected);
  const masters = new Map<string, Float32Array>();
  if (state.masters.length > 0) {
    const mastersFile = await openRequired(store, MASTERS_FILE);
    const shapes = new Map(state.params.map((p) => [p.name, p.shape]));
    for (const name of state.masters) {
      const shape = shapes.get(name);
      if (!shape) {
        throw new FormatError(
          `${joinSource(store.uri, STATE_FILE)}: master "${name}" is not one of its parameters`,
        );
      }
      masters.set(name, await readF32(mastersFile, name, shape));
    }
    rejectExtra(mastersFile, new Set(state.masters));
  }
  return { state, optimizer: { step: state.optimizerStep, m, v }, masters };
}

async function openRequired(store: Store, key: string): Promise<SafetensorsFile> {
  if (!(await store.head(key))) {
    throw new NotFoundError(`${joinSource(store.uri, key)}: missing (${STATE_FILE} refers to it)`);
  }
  return SafetensorsFile.open(store, key);
}

/** An F32 tensor of the expected shape, copied out bit for bit; errors name the file and the tensor. */
export async function readF32(
  file: SafetensorsFile,
  name: string,
  shape: readonly number[],
): Promise<Float32Array> {
  const source = file.source;
  if (!file.has(name)) throw new FormatError(`${source}: tensor "${name}" is missing`);
  const t = await file.readTensor(name);
  if (!sameShape(t.shape, shape)) {
    throw new FormatError(`${source}: tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
  }
  return f32Copy(t, source, name);
}

function rejectExtra(file: SafetensorsFile, expected: Set<string>): void {
  const extra = file.names().find((n) => !expected.has(n));
  if (extra !== undefined) {
    throw new FormatError(`${file.source}: tensor "${extra}" is not listed in ${STATE_FILE}`);
  }
}
