/**
 * `writeTrainingCheckpoint`: publishes what a run trained through core's CheckpointWriter — everything goes to
 * staging, is hashed and size-checked, and `lethe.json` is written last, so an error or a crash at any point
 * leaves no checkpoint at the destination (file:// or s3://).
 */
import {
  type Checkpoint,
  CheckpointWriter,
  type Manifest,
  openCheckpoint,
  type StoreOptions,
  TOKENIZER_FILES,
} from "@lethe/core";
import type { TrainConfig } from "../config/index.js";
import { writeAdapter } from "./adapter.js";
import { type WeightsDtype, writeFullWeights } from "./full.js";
import { hashDataFiles, type ProvenanceInput, parametersOf, parentsOf } from "./provenance.js";
import { writeTrainerState } from "./trainer-state.js";
import {
  type DataFile,
  DEFAULT_MAX_SHARD_BYTES,
  type LoraSettings,
  type ParamMode,
  type ResumeState,
  TRAIN_STAGE,
  type TrainedTensor,
} from "./types.js";

export interface TrainingCheckpointInput {
  mode: ParamMode;
  /** The trained tensors with their f32 masters, in optimizer order (`ParameterSet.params` as it is). */
  params: readonly TrainedTensor[];
  /** The model trained: its URI or the checkpoint opened by core's openCheckpoint. */
  source: string | Checkpoint;
  /** Required in lora mode. */
  lora?: LoraSettings;
  /** The resolved config, recorded in lethe.json. */
  config: TrainConfig;
  /** The adapter training started from (a parent); default: config.adapter. */
  adapter?: string | null;
  /** The data files trained on (parents); a missing sha256 is computed. */
  data: readonly DataFile[];
  /** The optimizer state and progress, for `--resume`; without it the checkpoint is weights only. */
  resume?: ResumeState;
  metrics?: Record<string, unknown>;
  /** full/select: "source" (default) keeps each tensor's dtype (bf16 rounded to nearest even); "F32" widens. */
  dtype?: WeightsDtype;
  /** full/select: shard above this many bytes of weights (default 5 GB, as save_pretrained). */
  maxShardBytes?: number;
  store?: StoreOptions;
  id?: string;
  /** Called after each file has landed in staging (progress; an error thrown here aborts the write). */
  onFile?: (path: string) => void | Promise<void>;
}

/** Writes and publishes the checkpoint at `outUri`; returns its manifest. */
export async function writeTrainingCheckpoint(
  outUri: string,
  input: TrainingCheckpointInput,
): Promise<Manifest> {
  if (input.mode === "lora" && !input.lora)
    throw new Error("writeTrainingCheckpoint: lora mode needs `lora`");
  const storeOptions = input.store ?? {};
  const source =
    typeof input.source === "string" ? await openCheckpoint(input.source, storeOptions) : input.source;
  try {
    const provenance: ProvenanceInput = {
      mode: input.mode,
      source,
      adapter: input.adapter !== undefined ? input.adapter : input.config.adapter,
      data: await hashDataFiles(input.data, storeOptions),
      config: input.config,
      lora: input.mode === "lora" ? input.lora! : null,
      weightsDtype: input.mode === "lora" ? "F32" : (input.dtype ?? "source"),
      trained: input.params.map((p) => p.name),
      progress: input.resume?.progress ?? null,
    };
    const writer = await CheckpointWriter.begin(outUri, {
      stage: TRAIN_STAGE,
      parents: parentsOf(provenance),
      parameters: parametersOf(provenance),
      ...(input.id ? { id: input.id } : {}),
      ...(input.metrics ? { metrics: input.metrics } : {}),
      store: storeOptions,
    });
    try {
      const landed = async (...paths: string[]) => {
        for (const path of paths) await input.onFile?.(path);
      };
      let masters: TrainedTensor[] = [];
      if (input.mode === "lora") {
        await writeAdapter(writer.store, input.params, input.lora!, source.uri);
        await landed("adapter_model.safetensors", "adapter_config.json");
      } else {
        masters = await writeFullWeights(writer.store, source, input.params, {
          dtype: input.dtype ?? "source",
          maxShardBytes: input.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
        });
        await landed("model.safetensors", "config.json");
      }
      for (const key of TOKENIZER_FILES) {
        if (!(await source.store.head(key))) continue;
        await writer.copyFrom(source.store, key);
        await landed(key);
      }
      if (input.resume) {
        await writeTrainerState(writer.store, input.mode, input.params, input.resume, masters);
        await landed("trainer_state");
      }
      return await writer.commit();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } finally {
    if (typeof input.source === "string") {
      source.weights?.close();
      source.adapter?.weights.close();
    }
  }
}
