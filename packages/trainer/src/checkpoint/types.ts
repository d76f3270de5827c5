/**
 * What a training checkpoint is made of, and where each part lives. The layout (docs/checkpoints.md):
 *
 *   lora:         adapter_config.json, adapter_model.safetensors, tokenizer files
 *   full/select:  config.json, model.safetensors (or shards + index), generation_config.json, tokenizer files
 *   both:         trainer_state/state.json, trainer_state/optimizer.safetensors (m.NAME, v.NAME),
 *                 trainer_state/masters.safetensors (the f32 masters the weights do not hold exactly), lethe.json
 */
import type { AdamWState } from "../optim/adamw.js";

export const TRAIN_STAGE = "train";
export const STATE_DIR = "trainer_state";
export const STATE_FILE = `${STATE_DIR}/state.json`;
export const OPTIMIZER_FILE = `${STATE_DIR}/optimizer.safetensors`;
export const MASTERS_FILE = `${STATE_DIR}/masters.safetensors`;
export const STATE_FORMAT = "lethe.trainer-state";
export const STATE_VERSION = 1;

/** Hugging Face's default `max_shard_size` of save_pretrained (5 GB). */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

export type ParamMode = "lora" | "full" | "select";

/** A trained tensor: `ParameterSet.params` fits as it is. */
export interface TrainedTensor {
  /** The checkpoint name, or PEFT's name for a LoRA factor. */
  name: string;
  shape: readonly number[];
  /** The f32 master. */
  value: Float32Array;
}

/** LoRA settings as the config spells them, plus rslora and the adapted layers. */
export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** Short names (`q_proj`) or relative names (`mlp.down_proj`); written to the adapter as short names. */
  target_modules: readonly string[];
  rslora?: boolean;
  /** Decoder layers adapted, when not all of them (PEFT's layers_to_transform). */
  layers?: readonly number[] | null;
}

/** A data file the run trained on; its sha256 is computed when absent (see hashDataFiles). */
export interface DataFile {
  /** `forget`, `retain`, … */
  role: string;
  uri: string;
  sha256?: string;
}

/** Where a run stands, for `--resume`. Free-form `rng` holds whatever else the loop needs to continue exactly. */
export interface TrainerProgress {
  /** Epochs completed (0-based epoch index of the next one to run). */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  examplesSeen: number;
  seeds: Record<string, number>;
  best: { metric: string; value: number; epoch?: number; step?: number } | null;
  rng?: Record<string, unknown>;
}

/** What `--resume` needs besides the weights: the optimizer's moments and the loop's progress. */
export interface ResumeState {
  optimizer: AdamWState;
  progress: TrainerProgress;
}
