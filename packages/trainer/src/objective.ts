/**
 * The configured loss of one micro-batch, computed and differentiated:
 *
 *   L = forget_weight·L_forget(forget batch) + retain_kl·KL(p_ref ‖ p_θ) + retain_nll·NLL_θ   (output space)
 *   L = L_f(forget batch) + α·MSE(h_θ^ℓ, h_ref^ℓ)(retain batch)                              (RMU family)
 *
 * Forward passes give per-token statistics (or the hidden state at ℓ); the loss functions of losses/ turn
 * them into the terms and their cotangents; backward adds scale·∂L/∂θ into the parameters' gradients (scale is
 * 1/grad_accum, as Hugging Face divides each micro-batch's loss).
 */
import type { TrainConfig } from "./config/schema.js";
import { nextTokenLabels, type TrainBatch } from "./data/collate.js";
import {
  adaptiveCoefficient,
  gradientAscent,
  type Hidden,
  type LossTerm,
  mseTo,
  npo,
  retainKl,
  retainNll,
  scaled,
  scoredTargets,
  sft,
  simnpo,
  steeringDirection,
  type TokenScores,
} from "./losses/index.js";
import type { Cotangents, ForwardPass, LogitsTarget, TrainingStep } from "./step.js";

export interface MicroBatch {
  forget: TrainBatch | null;
  retain: TrainBatch | null;
  /** The forget rows' topic (RMU: one steering direction per topic). */
  topic?: string;
}

export interface StepTerms {
  /** The micro-batch's total loss (before the 1/grad_accum scale). */
  loss: number;
  /** Each term's value, unweighted: forget, retain_kl, retain_nll, rmu_forget, rmu_retain. */
  terms: Record<string, number>;
  /** RMU: the coefficient in use and the mean token L2 norm of h^ℓ on each side. */
  rmu?: { coeff: number; forgetNorm: number; retainNorm: number | null };
  /** RMU: the forget target c·u [D]. */
  rmuTarget?: Float32Array;
}

type LossConfig = TrainConfig["loss"];

const REPRESENTATION = new Set(["rmu", "adaptive_rmu"]);
/** Forget losses linear in the token log-probs: their cotangents are known before the forward pass. */
const LINEAR_FORGET = new Set(["sft", "ga"]);

export class Objective {
  private readonly directions = new Map<string, Float32Array>();
  private readonly coefficients = new Map<string, number>();

  constructor(
    readonly engine: TrainingStep,
    readonly loss: LossConfig,
    readonly seed: number,
  ) {
    if (REPRESENTATION.has(loss.forget) && (loss.retain_kl > 0 || loss.retain_nll > 0)) {
      throw new Error(
        `loss.retain_kl and loss.retain_nll apply to output-space losses; ${loss.forget}'s retain term is loss.rmu.alpha`,
      );
    }
    const layers = engine.model.config.numLayers;
    if (REPRESENTATION.has(loss.forget) && loss.rmu.layer >= layers) {
      throw new Error(`loss.rmu.layer: ${loss.rmu.layer} is not a layer of this ${layers}-layer model`);
    }
  }

  /** Whether a retain batch is needed at all. */
  get usesRetain(): boolean {
    return REPRESENTATION.has(this.loss.forget)
      ? this.loss.rmu.alpha > 0
      : this.loss.retain_kl > 0 || this.loss.retain_nll > 0;
  }

  /** Adaptive RMU with `coeff: per_epoch` re-estimates each topic's coefficient at its first batch of an epoch. */
  startEpoch(): void {
    if (this.loss.rmu.coeff === "per_epoch") this.coefficients.clear();
  }

  /** Adaptive RMU's per-topic coefficients so far (saved with a checkpoint, for resume). */
  coefficientsSnapshot(): Record<string, number> {
    return Object.fromEntries(this.coefficients);
  }

  restoreCoefficients(saved: Record<string, number>): void {
    this.coefficients.clear();
    for (const [topic, c] of Object.entries(saved)) this.coefficients.set(topic, c);
  }

  /** Forward, loss, backward for one micro-batch; gradients are added scaled by `scale`. */
  async accumulate(mb: MicroBatch, scale: number): Promise<StepTerms> {
    return REPRESENTATION.has(this.loss.forget)
      ? this.representationStep(mb, scale)
      : this.outputSpaceStep(mb, scale);
  }

  private async outputSpaceStep(mb: MicroBatch, scale: number): Promise<StepTerms> {
    const { loss } = this;
    const out: StepTerms = { loss: 0, terms: {} };
    if (loss.forget !== "none" && loss.forget_weight > 0) {
      const term = await this.forgetStep(need(mb.forget, "forget"), loss.forget_weight * scale);
      out.terms["forget"] = term;
      out.loss += loss.forget_weight * term;
    }
    if (loss.retain_kl > 0 || loss.retain_nll > 0) {
      const terms = await this.retainStep(need(mb.retain, "retain"), scale);
      for (const [name, value] of Object.entries(terms)) {
        out.terms[name] = value;
        out.loss += loss[name as keyof typeof terms] * value;
      }
    }
    return out;
  }

  /** The forget term's value; its gradient, times `weight`, added. */
  private async forgetStep(forget: TrainBatch, weight: number): Promise<number> {
    const { targets, scored } = scoredTargets(nextTokenLabels(forget.labels, forget.batch, forget.seq));
    const target = { kind: "logits" as const, labels: targets };
    if (LINEAR_FORGET.has(this.loss.forget)) {
      const term = (logprobs: Float32Array) => this.forgetTerm(scoresOf(forget, logprobs, scored), null);
      const cot = linearCotangent(term, forget.batch * forget.seq);
      const pass = await this.engine.forwardBackward(forget, target, {
        tokenLogprobs: scaleCot(cot, weight),
      });
      return term(pass.tokenLogprobs!).value;
    }
    let ref: TokenScores | null = null;
    if (this.loss.forget === "npo") {
      ref = scores(forget, await this.engine.forward(forget, target, { reference: true }), scored);
    }
    const pass = await this.engine.forward(forget, target);
    const term = this.forgetTerm(scores(forget, pass, scored), ref);
    await this.engine.backward(pass, { tokenLogprobs: scaleCot(term.cot, weight) });
    return term.value;
  }

  /** The retain terms' values (KL, NLL: both linear in their statistics); their weighted gradients added. */
  private async retainStep(
    retain: TrainBatch,
    scale: number,
  ): Promise<{ retain_kl?: number; retain_nll?: number }> {
    const { loss } = this;
    const { targets, scored } = scoredTargets(nextTokenLabels(retain.labels, retain.batch, retain.seq));
    const n = retain.batch * retain.seq;
    const kl = (values: Float32Array) => retainKl(values, retain.mask, loss.kl_positions);
    const nll = (logprobs: Float32Array) => retainNll(scoresOf(retain, logprobs, scored));
    const target: LogitsTarget = { kind: "logits", labels: targets };
    const cot: Cotangents = { tokenLogprobs: new Float32Array(n) };
    if (loss.retain_kl > 0) {
      const r = await this.engine.forward(retain, { ...target, logprobs: true }, { reference: true });
      target.refLogprobs = r.logprobs!;
      cot.kl = scaleCot(linearCotangent(kl, n), loss.retain_kl * scale);
    }
    if (loss.retain_nll > 0) cot.tokenLogprobs = scaleCot(linearCotangent(nll, n), loss.retain_nll * scale);
    const pass = await this.engine.forwardBackward(retain, target, cot);
    return {
      ...(loss.retain_kl > 0 ? { retain_kl: kl(pass.kl!).value } : {}),
      ...(loss.retain_nll > 0 ? { retain_nll: nll(pass.tokenLogprobs!).value } : {}),
    };
  }

  private forgetTerm(policy: TokenScores, ref: TokenScores | null): LossTerm {
    const { loss } = this;
    switch (loss.forget) {
      case "sft":
        return sft(policy);
      case "ga":
        return gradientAscent(policy);
      case "npo":
        return npo(policy, ref!, loss.npo.beta, loss.npo.reduction);
      case "simnpo":
        return simnpo(policy, loss.simnpo.beta, loss.simnpo.delta);
      default:
        throw new Error(`internal: ${loss.forget} is not an output-space loss`);
    }
  }

  private async representationStep(mb: MicroBatch, scale: number): Promise<StepTerms> {
    const { rmu } = this.loss;
    const target = { kind: "hidden" as const, layer: rmu.layer };
    const forget = need(mb.forget, "forget");
    const topic = mb.topic ?? "all";
    const pass = await this.engine.forward(forget, target);
    const h = hiddenOf(forget, pass);
    const forgetNorm = adaptiveCoefficient(h, 1);
    const coeff = this.coefficientFor(topic, forgetNorm);
    const u = this.direction(topic, h.dim);
    const rmuTarget = scaled(u, coeff);
    const forgetTerm = mseTo(h, rmuTarget, rmu.mse);
    await this.engine.backward(pass, { hidden: scaleCot(forgetTerm.cot, this.loss.forget_weight * scale) });
    const out: StepTerms = {
      loss: this.loss.forget_weight * forgetTerm.value,
      terms: { rmu_forget: forgetTerm.value },
      rmu: { coeff, forgetNorm, retainNorm: null },
      rmuTarget,
    };
    if (rmu.alpha > 0) {
      const retain = need(mb.retain, "retain");
      const ref = hiddenOf(retain, await this.engine.forward(retain, target, { reference: true }));
      const retainPass = await this.engine.forward(retain, target);
      const hr = hiddenOf(retain, retainPass);
      const retainTerm = mseTo(hr, ref.values, rmu.mse, rmu.alpha);
      await this.engine.backward(retainPass, { hidden: scaleCot(retainTerm.cot, scale) });
      out.terms["rmu_retain"] = retainTerm.value / rmu.alpha;
      out.loss += retainTerm.value;
      out.rmu!.retainNorm = adaptiveCoefficient(hr, 1);
    }
    return out;
  }

  /** RMU: the fixed steering_coeff. Adaptive RMU: β · the forget batch's mean token norm, per topic. */
  private coefficientFor(topic: string, meanNorm: number): number {
    const { rmu } = this.loss;
    if (this.loss.forget === "rmu") return rmu.steering_coeff;
    let c = this.coefficients.get(topic);
    if (c === undefined) {
      c = rmu.beta * meanNorm;
      this.coefficients.set(topic, c);
    }
    return c;
  }

  private direction(topic: string, dim: number): Float32Array {
    let u = this.directions.get(topic);
    if (!u) {
      u = steeringDirection(dim, this.seed, topic);
      this.directions.set(topic, u);
    }
    return u;
  }
}

function need(batch: TrainBatch | null, side: "forget" | "retain"): TrainBatch {
  if (!batch) throw new Error(`internal: the loss needs a ${side} batch and none was given`);
  return batch;
}

function scores(batch: TrainBatch, pass: ForwardPass, scored: Uint8Array): TokenScores {
  return scoresOf(batch, pass.tokenLogprobs!, scored);
}

function scoresOf(batch: TrainBatch, logprobs: Float32Array, scored: Uint8Array): TokenScores {
  return { batch: batch.batch, seq: batch.seq, logprobs, scored };
}

/**
 * The cotangent of a term linear in its statistic: the same at every value of the statistic, so it is taken at
 * zeros, before the forward pass that computes the statistic (and lets the engine run the loss head once).
 */
function linearCotangent(term: (statistic: Float32Array) => LossTerm, n: number): Float32Array {
  return term(new Float32Array(n)).cot;
}

function hiddenOf(batch: TrainBatch, pass: ForwardPass): Hidden {
  const dim = pass.hidden!.length / (batch.batch * batch.seq);
  return { batch: batch.batch, seq: batch.seq, dim, values: pass.hidden!, mask: batch.mask };
}

function scaleCot(cot: Float32Array, s: number): Float32Array {
  return s === 1 ? cot : cot.map((c) => c * s);
}
