/**
 * One forward and backward pass over the per-layer graphs, with activation checkpointing:
 *
 *   forward:  embed → layer 0 … layer top → loss head (or stop at layer ℓ for a representation loss),
 *             keeping only the input of each layer from the lowest trainable one up;
 *   host:     the trainer turns the per-token statistics into its loss and their cotangents;
 *   backward: loss head gradient → layer top … lowest trainable layer, each layer recomputed from its kept
 *             input by its layer_grad graph, which returns ∂L/∂input and the layer's parameter gradients
 *             (→ the embedding's rows when it trains).
 *
 * When the cotangents are known before the forward pass (a loss linear in the head's statistics), `forwardBackward`
 * skips the host step between: the loss head runs once, returning its statistics and its gradients together.
 *
 * Gradients are added into each parameter's accumulator, so micro-batches accumulate by calling backward again.
 */
import {
  type BuildOptions,
  type Model,
  ort,
  type SessionCache,
  type StepInputs,
  sharedSessionCache,
  stepInputs,
  type TokenBatch,
} from "@lethe/model";
import { dropoutFeeds } from "./dropout.js";
import { NO_LORA, pick } from "./feeds.js";
import { HEAD_CHUNK_VALUES, type HeadInputs, headGradient, headStatistics } from "./loss-head.js";
import type { Parameter, ParameterSet } from "./params.js";

/** What the forward pass ends in. */
export type LossTarget =
  | {
      kind: "logits";
      /** [batch, seq]: the token each position is scored on (the next token; anything where unscored). */
      labels: BigInt64Array;
      /** [batch, seq, V] reference log-probs: the pass also returns KL(p_ref ‖ p_θ) per position. */
      refLogprobs?: Float32Array;
      /** Also return the full log-probs [batch, seq, V] (what a reference pass hands to the policy's KL). */
      logprobs?: boolean;
    }
  | {
      kind: "hidden";
      /** The residual stream after this decoder layer (0-based): layers above it never run. */
      layer: number;
    };

/** A target that ends in the loss head. */
export type LogitsTarget = Extract<LossTarget, { kind: "logits" }>;

export interface ForwardPass {
  batch: TokenBatch;
  target: LossTarget;
  reference: boolean;
  /** [batch, seq] log p(label) (logits target). */
  tokenLogprobs: Float32Array | null;
  /** [batch, seq] KL(p_ref ‖ p_θ) at each position (with refLogprobs). */
  kl: Float32Array | null;
  /** [batch, seq, V] (with logprobs). */
  logprobs: Float32Array | null;
  /** [batch, seq, D] the residual stream at the target layer (hidden target). */
  hidden: Float32Array | null;
  /** Names this pass's dropout masks (drawn again, identically, by backward's recomputation). */
  readonly passId: number;
  /** Kept for backward: the attention/RoPE feeds, each layer's input, the top hidden state. */
  readonly saved: {
    step: StepInputs;
    layerInputs: (ort.Tensor | undefined)[];
    top: ort.Tensor;
  };
}

export interface Cotangents {
  /** ∂L/∂token_logprobs [batch, seq]. */
  tokenLogprobs?: Float32Array;
  /** ∂L/∂kl [batch, seq]. */
  kl?: Float32Array;
  /** ∂L/∂hidden [batch, seq, D] at the target layer. */
  hidden?: Float32Array;
}

export class TrainingStep {
  constructor(
    readonly model: Model,
    readonly params: ParameterSet,
    readonly sessions: SessionCache = trainingSessions(model),
    private readonly options: { headChunkValues?: number } = {},
  ) {}

  /** Forward passes numbered so far: each draws its own dropout masks (saved with a checkpoint, for resume). */
  passes = 0;

  /** Run the model on a padded batch; a reference pass keeps nothing for backward. */
  async forward(
    batch: TokenBatch,
    target: LossTarget,
    opts: { reference?: boolean; passId?: number } = {},
  ): Promise<ForwardPass> {
    const reference = opts.reference ?? false;
    const pass = await this.forwardLayers(batch, target, reference, opts.passId);
    if (target.kind === "hidden") {
      pass.hidden = pass.saved.top.data as Float32Array;
      return pass;
    }
    const stats = await headStatistics(
      this.sessions,
      this.model.config,
      this.headInputs(pass, reference),
      !!target.logprobs,
    );
    pass.tokenLogprobs = stats.tokenLogprobs;
    pass.kl = stats.kl;
    pass.logprobs = stats.logprobs;
    return pass;
  }

  /** Add ∂L/∂θ for the given cotangents of the pass's outputs into every parameter's gradient. */
  async backward(pass: ForwardPass, cot: Cotangents): Promise<void> {
    if (pass.reference) throw new Error("backward: a reference pass keeps nothing to differentiate");
    const { batch, seq } = pass.batch;
    let g: ort.Tensor | null;
    if (pass.target.kind === "logits") {
      g = await this.headBackward(pass, cot, false);
    } else {
      if (!cot.hidden) throw new Error("backward: a hidden-state target needs cotangents.hidden");
      g = new ort.Tensor("float32", cot.hidden, [batch, seq, this.model.config.hiddenSize]);
    }
    await this.backwardLayers(pass, g);
  }

  /**
   * `forward` then `backward`, for cotangents known before the forward pass: losses linear in the head's
   * statistics (a masked mean NLL, gradient ascent, KL to a fixed reference). The loss head then runs once per
   * chunk, returning its statistics and its gradients together, where `forward` + `backward` run it twice.
   * Returns the pass with its statistics, its gradients already added.
   */
  async forwardBackward(
    batch: TokenBatch,
    target: LogitsTarget,
    cot: Cotangents,
    opts: { passId?: number } = {},
  ): Promise<ForwardPass> {
    const pass = await this.forwardLayers(batch, target, false, opts.passId);
    await this.backwardLayers(pass, await this.headBackward(pass, cot, true));
    return pass;
  }

  /** Embedding and decoder layers up to the target's top layer, keeping each trainable layer's input. */
  private async forwardLayers(
    batch: TokenBatch,
    target: LossTarget,
    reference: boolean,
    id: number | undefined,
  ): Promise<ForwardPass> {
    const { model, params } = this;
    // Numbered passes draw fresh dropout masks; a given id repeats its masks (tests, parity checks).
    const passId = id ?? this.passes++;
    const top = this.topLayer(target);
    if (!(Number.isInteger(top) && top >= 0 && top < model.config.numLayers))
      throw new RangeError(
        `target layer ${top} is not a layer of this ${model.config.numLayers}-layer model`,
      );
    const step = stepInputs(model, batch.batch, batch.seq, batch.mask, batch.positions);
    const layerInputs: (ort.Tensor | undefined)[] = [];
    let h = await this.runEmbed(batch, reference);
    const lowest = Math.max(0, params.lowestTrainableLayer);
    for (let i = 0; i <= top; i++) {
      if (!reference && i >= lowest) layerInputs[i] = h;
      h = await this.runLayer(i, h, step, reference, passId, batch);
    }
    return {
      batch,
      target,
      reference,
      tokenLogprobs: null,
      kl: null,
      logprobs: null,
      hidden: null,
      passId,
      saved: { step, layerInputs, top: h },
    };
  }

  /** Backward from ∂L/∂(top layer's output) down to the lowest trainable layer, then the embedding. */
  private async backwardLayers(pass: ForwardPass, gradTop: ort.Tensor | null): Promise<void> {
    const lowest = this.params.lowestTrainableLayer;
    let g = gradTop;
    for (let i = this.topLayer(pass.target); i >= Math.max(lowest, 0) && g; i--) {
      g = await this.layerBackward(i, pass, g, i > lowest);
    }
    if (lowest === -1 && g) await this.embedBackward(pass, g);
  }

  private async runEmbed(batch: TokenBatch, reference: boolean): Promise<ort.Tensor> {
    const g = await this.sessions.get({
      kind: "embed",
      config: this.model.config,
      options: NO_LORA,
    });
    const r = await g.session.run({
      input_ids: new ort.Tensor("int64", batch.ids, [batch.batch, batch.seq]),
      "model.embed_tokens.weight": this.params.embedFeed(reference),
    });
    return r["hidden"]!;
  }

  /** The last decoder layer a target runs. */
  private topLayer(target: LossTarget): number {
    return target.kind === "hidden" ? target.layer : this.model.config.numLayers - 1;
  }

  private async runLayer(
    i: number,
    hidden: ort.Tensor,
    step: StepInputs,
    reference: boolean,
    passId: number,
    batch: TokenBatch,
  ): Promise<ort.Tensor> {
    const dropout = !reference && this.params.loraDropout > 0;
    const g = await this.sessions.get({
      kind: "layer",
      config: this.model.config,
      options: this.layerOptions(i, dropout),
    });
    const feeds = this.layerFeeds(i, hidden, step, reference, dropout ? { passId, batch } : null);
    return (await g.session.run(pick(g.session, feeds)))["hidden_out"]!;
  }

  private layerOptions(layer: number, dropout: boolean): BuildOptions {
    return { matmulDtype: "float32", lora: this.params.loraRanks(layer), loraDropout: dropout };
  }

  /** A layer graph's feeds: its input, the attention/RoPE inputs, the weights and, with dropout, the masks. */
  private layerFeeds(
    layer: number,
    hidden: ort.Tensor,
    step: StepInputs,
    reference: boolean,
    dropout: { passId: number; batch: TokenBatch } | null,
  ): Record<string, ort.Tensor> {
    return {
      hidden,
      attn_bias: step.bias,
      cos: step.cos,
      sin: step.sin,
      ...this.params.layerFeeds(layer, reference),
      ...(dropout ? this.dropoutFeeds(layer, dropout.passId, dropout.batch) : {}),
    };
  }

  private dropoutFeeds(layer: number, passId: number, batch: TokenBatch): Record<string, ort.Tensor> {
    const p = this.params;
    const modules = p.loraRanks(layer)?.keys() ?? [];
    return dropoutFeeds(
      this.model.config,
      modules,
      p.loraDropout,
      p.spec.lora!.seed,
      passId,
      layer,
      batch.batch,
      batch.seq,
    );
  }

  private headInputs(pass: ForwardPass, reference: boolean): HeadInputs {
    const target = pass.target as LogitsTarget;
    return {
      batch: pass.batch.batch,
      seq: pass.batch.seq,
      hidden: pass.saved.top.data as Float32Array,
      labels: target.labels,
      refLogprobs: target.refLogprobs,
      weights: this.params.headFeeds(reference),
      chunkValues: this.options.headChunkValues ?? HEAD_CHUNK_VALUES,
    };
  }

  /** The loss head's gradients; with `statistics` the pass's statistics come from the same runs. */
  private async headBackward(
    pass: ForwardPass,
    cot: Cotangents,
    statistics: boolean,
  ): Promise<ort.Tensor | null> {
    const { batch, seq } = pass.batch;
    const target = pass.target as LogitsTarget;
    if (!cot.tokenLogprobs) throw new Error("backward: a logits target needs cotangents.tokenLogprobs");
    if (!!cot.kl !== !!target.refLogprobs)
      throw new Error("backward: cotangents.kl is needed exactly when the pass computed KL (refLogprobs)");
    const trainable = this.params.trainable("head");
    const inputGrad = this.params.lowestTrainableLayer < this.model.config.numLayers;
    if (!statistics && !inputGrad && trainable.length === 0) return null;
    const uses = this.params.usesIn("head");
    const out = await headGradient(
      this.sessions,
      this.model.config,
      this.headInputs(pass, false),
      { tokenLogprobs: cot.tokenLogprobs, kl: cot.kl },
      { trainable, inputGrad, statistics },
      (grads) => accumulate(uses, grads),
    );
    if (out.statistics) {
      pass.tokenLogprobs = out.statistics.tokenLogprobs;
      pass.kl = out.statistics.kl;
    }
    const D = this.model.config.hiddenSize;
    return out.gradHidden && new ort.Tensor("float32", out.gradHidden, [batch, seq, D]);
  }

  private async layerBackward(i: number, pass: ForwardPass, gradOut: ort.Tensor, inputGrad: boolean) {
    const trainable = this.params.layerTrainable(i);
    if (!inputGrad && trainable.length === 0) return null;
    const dropout = this.params.loraDropout > 0;
    const g = await this.sessions.get({
      kind: "layer_grad",
      config: this.model.config,
      options: this.layerOptions(i, dropout),
      training: { trainable, inputGrad, kl: false, logprobs: false, statistics: false },
    });
    const { step, layerInputs } = pass.saved;
    const feeds = {
      ...this.layerFeeds(i, layerInputs[i]!, step, false, dropout ? pass : null),
      "grad.hidden_out": gradOut,
    };
    const out = await g.session.run(pick(g.session, feeds));
    accumulate(this.params.usesIn("layer", i), out);
    return inputGrad ? out["grad.hidden"]! : null;
  }

  private async embedBackward(pass: ForwardPass, gradHidden: ort.Tensor): Promise<void> {
    const g = await this.sessions.get({
      kind: "embed_grad",
      config: this.model.config,
      options: NO_LORA,
    });
    const { batch, seq, ids } = pass.batch;
    const out = await g.session.run(
      pick(g.session, {
        input_ids: new ort.Tensor("int64", ids, [batch, seq]),
        "model.embed_tokens.weight": this.params.embedFeed(false),
        "grad.hidden": gradHidden,
      }),
    );
    accumulate(this.params.usesIn("embed"), out);
  }
}

function accumulate(uses: [Parameter, { input: string }][], out: Record<string, ort.Tensor>): void {
  for (const [p, use] of uses) {
    const g = out[`grad.${use.input}`]!.data as Float32Array;
    const acc = p.grad;
    if (p.gradIsZero) acc.set(g);
    else for (let k = 0; k < acc.length; k++) acc[k]! += g[k]!;
    p.gradIsZero = false;
  }
}

/**
 * The model's session options without ORT's per-session arenas and memory patterns (see SessionOptions): the
 * many training sessions would otherwise each hold their peak, and every run would fault in a fresh block.
 */
function trainingSessions(model: Model): SessionCache {
  return sharedSessionCache({ ...model.sessions.options, enableCpuMemArena: false, enableMemPattern: false });
}
