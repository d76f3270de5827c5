/** What a merge is asked to do and what it returns: shared by the streaming merge and the LoRA merges. */
import type { BlockRunner } from "./engine/runner.js";
import type { MergePlan, TensorCoverage } from "./plan.js";
import { SEMANTICS, type Semantics, type SemanticsName, withF32Arithmetic } from "./semantics.js";
import type { ModelSource, OpenOptions } from "./sources.js";
import type { MergeStats } from "./stats.js";

export interface MergeOptions extends OpenOptions {
  /** Default "mergekit" ("peft" when the inputs are LoRA adapters). */
  semantics?: SemanticsName;
  /** Worker threads (default: the machine's available parallelism). */
  threads?: number;
  /** Largest shard in bytes (default 5e9, mergekit's). */
  outShardBytes?: number;
  /** Tensors missing from some models: error (strict, default), merge what exists, or leave them out. */
  coverage?: TensorCoverage;
  /** Seed of DARE/DELLA randomness (default 0). */
  seed?: number;
  /** Paper semantics: trim over the whole model (default, as the paper) or per tensor. */
  trimScope?: "tensor" | "global";
  /** mergekit semantics with f32 intermediates (rounded to the working dtype once, on output). */
  exactF32Accumulate?: boolean;
  /** Copy tokenizer files from the base (default true). */
  copyTokenizer?: boolean;
  /** The YAML document the config came from (after overrides): written as mergekit_config.yml and in the card. */
  configDocument?: unknown;
  /** Warnings and notes. */
  log?: (line: string) => void;
  /** Output bytes written so far, of the total. */
  onProgress?: (done: number, total: number) => void;
  /** LoRA adapters as inputs: merge the A and B factors separately (PEFT, default) or the full ΔW (exact). */
  lora?: "factorwise" | "delta";
  /** Factor-wise: fold the merged adapter into the base and write a full model. */
  fold?: boolean;
  /** Delta: truncate the merged ΔW to this rank by SVD and write an adapter (else a full model). */
  loraRank?: number;
  /** Run blocks on this runner (e.g. one worker pool shared by the merges of a sweep) instead of a new pool. */
  runner?: BlockRunner;
  /** Elements per block handed to a thread (default 2^20). Results do not depend on it. */
  blockElements?: number;
  /** Called with the merge statistics before publication (a tracker hook). */
  onStats?: (metrics: Record<string, unknown>, stats: MergeStats) => void | Promise<void>;
}

export interface MergeResult {
  uri: string;
  plan: MergePlan;
  stats: MergeStats;
  seconds: number;
  files: string[];
}

export function resolveSemantics(options: MergeOptions, adapters: boolean): Semantics {
  const name = options.semantics ?? (adapters ? "peft" : "mergekit");
  const semantics = SEMANTICS[name];
  return options.exactF32Accumulate ? withF32Arithmetic(semantics) : semantics;
}

export interface OpenedInputs {
  sources: ModelSource[];
  modelSources: number[];
  baseSource: number | null;
  close(): Promise<void>;
}
