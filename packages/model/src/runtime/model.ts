/**
 * A loaded model: its config, its weights as ONNX Runtime feeds, and the shared compiled sessions. Running
 * it lives in forward.ts, logprobs.ts and generate.ts.
 */
import type { BuildOptions } from "../arch/common.js";
import type { GraphKind } from "../arch/graphs.js";
import type { ModelConfig } from "../config.js";
import type { LoraAdapter } from "../lora/peft.js";
import { type ForwardOptions, type ForwardResult, forward } from "./forward.js";
import { type GenerateOptions, type Generation, generate } from "./generate.js";
import { inverseFrequencies } from "./inputs.js";
import { type ScoreOptions, type ScoreResult, score } from "./logprobs.js";
import {
  type CompiledGraph,
  type SessionCache,
  type SessionOptions,
  sharedSessionCache,
} from "./session-cache.js";
import { loadWeights, type ModelWeights, type TensorSource } from "./weights.js";

export interface ModelOptions extends SessionOptions {
  /** "float16" runs linear layers and lm_head as f16 MatMuls (weights fed as f16); default "float32". */
  matmulDtype?: BuildOptions["matmulDtype"];
  /** A LoRA adapter, applied at run time unless `foldAdapter`. */
  adapter?: LoraAdapter | null;
  foldAdapter?: boolean;
  /** Sessions to use; default: the process-wide cache for these session options. */
  sessionCache?: SessionCache;
  /** Names the checkpoint in error messages. */
  sourceName?: string;
}

export class Model {
  readonly invFreq: Float64Array;

  private constructor(
    readonly config: ModelConfig,
    readonly weights: ModelWeights,
    readonly sessions: SessionCache,
    readonly adapter: LoraAdapter | null,
  ) {
    this.invFreq = inverseFrequencies(config);
  }

  static async create(config: ModelConfig, source: TensorSource, options: ModelOptions = {}): Promise<Model> {
    const weights = await loadWeights(config, source, {
      matmulDtype: options.matmulDtype ?? "float32",
      adapter: options.adapter ?? null,
      foldAdapter: options.foldAdapter ?? false,
      sourceName: options.sourceName ?? "checkpoint",
    });
    const sessions = options.sessionCache ?? sharedSessionCache(options);
    return new Model(config, weights, sessions, options.foldAdapter ? null : (options.adapter ?? null));
  }

  /**
   * The same architecture and sessions over other weights (e.g. a trainer's current parameters, whose feeds
   * view its master copies): nothing is copied or compiled. `adapter` describes LoRA feeds in `weights`.
   */
  withWeights(weights: ModelWeights, adapter: LoraAdapter | null = this.adapter): Model {
    return new Model(this.config, weights, this.sessions, adapter);
  }

  /** Logits and/or the residual stream for rows of token ids (left-padded to the longest). */
  forward(rows: readonly (readonly number[])[], opts: ForwardOptions = {}): Promise<ForwardResult> {
    return forward(this, rows, opts);
  }

  /** Per-token log-probs and the masked loss. */
  score(rows: readonly (readonly number[])[], opts: ScoreOptions = {}): Promise<ScoreResult> {
    return score(this, rows, opts);
  }

  /** Greedy or sampled continuations of each prompt. */
  generate(prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<Generation[]> {
    return generate(this, prompts, opts);
  }

  /** The id written into pad positions: pad_token_id, else 0. */
  get padId(): number {
    return this.config.padTokenId ?? 0;
  }

  buildOptions(layer?: number): BuildOptions {
    const lora = layer === undefined ? null : this.weights.layers[layer]!.lora;
    return { matmulDtype: this.weights.matmulDtype, lora };
  }

  graph(
    kind: GraphKind,
    opts: { layer?: number; kvCache?: boolean; hidden?: boolean } = {},
  ): Promise<CompiledGraph> {
    let options = this.buildOptions(opts.layer);
    if (kind === "model") options = { ...options, lora: this.uniformLora() };
    return this.sessions.get({
      kind,
      config: this.config,
      options,
      kvCache: opts.kvCache,
      hidden: opts.hidden,
    });
  }

  /** The whole-model graph takes one LoRA layout for every layer. */
  private uniformLora(): BuildOptions["lora"] {
    const sets = this.weights.layers.map((l) => JSON.stringify(l.lora ? [...l.lora].sort() : null));
    if (new Set(sets).size > 1)
      throw new Error("the whole-model graph needs the same LoRA modules in every layer");
    return this.weights.layers[0]?.lora ?? null;
  }
}
