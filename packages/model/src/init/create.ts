import {
  CheckpointWriter,
  encodeFromFloat32,
  type Manifest,
  ShardedWeightsWriter,
  type StoreOptions,
} from "@lethe/core";
import type { TokenizerFiles } from "../tokenizer/files.js";
import { tokenizerFromFiles } from "../tokenizer/load.js";
import { trainByteLevelBpe } from "../tokenizer/train.js";
import {
  checkArchitecture,
  generationConfig,
  hfConfig,
  type PlannedTensor,
  type RopeScaling,
  type TinyArch,
  type TinyArchitecture,
  tensorPlan,
} from "./architecture.js";
import { normalTensor } from "./random.js";

export const INIT_STAGE = "init";

export interface TinyModelOptions {
  arch: TinyArch;
  layers: number;
  hidden: number;
  heads: number;
  /** Default: `heads` (no grouped-query attention). */
  kvHeads?: number;
  intermediate: number;
  /** Text to train the tokenizer on (one string or several documents). */
  vocabFrom?: string | readonly string[];
  /** Tokenizer vocabulary size when training from `vocabFrom` (default 512). */
  vocabSize?: number;
  /** Ready-made tokenizer files, instead of `vocabFrom`. */
  tokenizer?: TokenizerFiles;
  seed: number;
  tieEmbeddings?: boolean;
  dtype?: "F32" | "BF16";
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  clipQkv?: number | null;
  maxPositionEmbeddings?: number;
  rmsNormEps?: number;
  /** Std of the normal init of linear and embedding weights (transformers' `initializer_range`, 0.02). */
  initializerRange?: number;
  /**
   * 0 (default) initialises norm weights to 1 and biases to 0 as transformers does. A positive value draws
   * them from 1 + N(0, s²) and N(0, s²) instead, so tests notice a norm weight or bias that is ignored.
   */
  normAndBiasStd?: number;
}

export interface TinyModel {
  uri: string;
  config: Record<string, unknown>;
  manifest: Manifest;
  tensors: PlannedTensor[];
  vocabSize: number;
}

/** Resolve defaults and the tokenizer: the full architecture plus the tokenizer files. */
export function resolveTinyModel(options: TinyModelOptions): {
  architecture: TinyArchitecture;
  tokenizer: TokenizerFiles;
} {
  const tokenizerFiles = options.tokenizer ?? trainTokenizer(options);
  const tokenizer = tokenizerFromFiles(tokenizerFiles);
  const architecture: TinyArchitecture = {
    arch: options.arch,
    layers: options.layers,
    hidden: options.hidden,
    heads: options.heads,
    kvHeads: options.kvHeads ?? options.heads,
    intermediate: options.intermediate,
    vocabSize: tokenizer.vocabSize,
    tieEmbeddings: options.tieEmbeddings ?? false,
    dtype: options.dtype ?? "F32",
    ropeTheta: options.ropeTheta ?? 10000,
    ropeScaling: options.ropeScaling ?? null,
    clipQkv: options.clipQkv ?? null,
    maxPositionEmbeddings: options.maxPositionEmbeddings ?? 2048,
    rmsNormEps: options.rmsNormEps ?? 1e-6,
    initializerRange: options.initializerRange ?? 0.02,
    eosId: tokenizer.eosId,
    padId: tokenizer.padId,
  };
  checkArchitecture(architecture);
  return { architecture, tokenizer: tokenizerFiles };
}

function trainTokenizer(options: TinyModelOptions): TokenizerFiles {
  if (options.vocabFrom === undefined)
    throw new Error("give either vocabFrom (text to train a tokenizer on) or tokenizer");
  return trainByteLevelBpe(options.vocabFrom, {
    vocabSize: options.vocabSize ?? 512,
    modelMaxLength: options.maxPositionEmbeddings ?? 2048,
  });
}

/**
 * The float32 values of one planned tensor, as transformers' `_init_weights` sets them: linear weights
 * N(0, initializer_range²), embeddings the same with the padding row zeroed, norms 1, biases 0. Each tensor has
 * its own random stream keyed by (seed, name).
 */
export function initialValues(
  tensor: PlannedTensor,
  a: TinyArchitecture,
  seed: number,
  normAndBiasStd = 0,
): Float32Array {
  const n = tensor.shape.reduce((x, y) => x * y, 1);
  switch (tensor.init) {
    case "normal":
      return normalTensor(n, a.initializerRange, seed, tensor.name);
    case "embedding": {
      const values = normalTensor(n, a.initializerRange, seed, tensor.name);
      values.fill(0, a.padId * a.hidden, (a.padId + 1) * a.hidden);
      return values;
    }
    case "ones":
      return normAndBiasStd > 0
        ? normalTensor(n, normAndBiasStd, seed, tensor.name, 1)
        : new Float32Array(n).fill(1);
    case "zeros":
      return normAndBiasStd > 0 ? normalTensor(n, normAndBiasStd, seed, tensor.name) : new Float32Array(n);
  }
}

/**
 * Create a randomly initialised checkpoint in Hugging Face layout at `out` (a path, file:// or s3:// URI):
 * config.json, generation_config.json, model.safetensors and the tokenizer files, published with a Lethe
 * manifest (stage "init").
 */
export async function createTinyModel(
  out: string,
  options: TinyModelOptions,
  storeOptions?: StoreOptions,
): Promise<TinyModel> {
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
    throw new Error(`seed must be a non-negative integer, got ${options.seed}`);
  }
  const { architecture: a, tokenizer } = resolveTinyModel(options);
  const plan = tensorPlan(a);
  const config = hfConfig(a);
  const normAndBiasStd = options.normAndBiasStd ?? 0;
  const writer = await CheckpointWriter.begin(out, {
    stage: INIT_STAGE,
    parameters: { ...a, seed: options.seed, normAndBiasStd },
    ...(storeOptions ? { store: storeOptions } : {}),
  });
  try {
    const weights = ShardedWeightsWriter.create(
      writer.store,
      plan.map((t) => ({ name: t.name, dtype: a.dtype, shape: t.shape })),
    );
    const byName = new Map(plan.map((t) => [t.name, t]));
    for (const name of weights.order) {
      const values = initialValues(byName.get(name)!, a, options.seed, normAndBiasStd);
      await weights.writeTensor(name, encodeFromFloat32(values, a.dtype));
    }
    await weights.finish();
    await writer.putJson("config.json", config);
    await writer.putJson("generation_config.json", generationConfig(a));
    for (const [key, value] of Object.entries(tokenizer)) await writer.putJson(key, value);
    const manifest = await writer.commit();
    return { uri: writer.uri, config, manifest, tensors: plan, vocabSize: a.vocabSize };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
