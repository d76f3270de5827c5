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
import type { ForwardPass, TrainingStep } from "./step.js";

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
      const forget = need(mb.forget, "forget");
      const { targets, scored } = scoredTargets(nextTokenLabels(forget.labels, forget.batch, forget.seq));
      let ref: TokenScores | null = null;
      if (loss.forget === "npo") {
        const r = await this.engine.forward(forget, { kind: "logits", labels: targets }, { reference: true });
        ref = scores(forget, r, scored);
      }
      const pass = await this.engine.forward(forget, { kind: "logits", labels: targets });
      const term = this.forgetTerm(scores(forget, pass, scored), ref);
      out.terms["forget"] = term.value;
      out.loss += loss.forget_weight * term.value;
      await this.engine.backward(pass, { tokenLogprobs: scaleCot(term.cot, loss.forget_weight * scale) });
    }
    if (loss.retain_kl > 0 || loss.retain_nll > 0) {
      const retain = need(mb.retain, "retain");
      const { targets, scored } = scoredTargets(nextTokenLabels(retain.labels, retain.batch, retain.seq));
      let refLogprobs: Float32Array | undefined;
      if (loss.retain_kl > 0) {
        const r = await this.engine.forward(
          retain,
          { kind: "logits", labels: targets, logprobs: true },
          { reference: true },
        );
        refLogprobs = r.logprobs!;
      }
      const pass = await this.engine.forward(retain, { kind: "logits", labels: targets, refLogprobs });
      const n = retain.batch * retain.seq;
      const tokenCot = new Float32Array(n);
      let klCot: Float32Array | undefined;
      if (loss.retain_kl > 0) {
        const kl = retainKl(pass.kl!, retain.mask, loss.kl_positions);
        out.terms["retain_kl"] = kl.value;
        out.loss += loss.retain_kl * kl.value;
        klCot = scaleCot(kl.cot, loss.retain_kl * scale);
      }
      if (loss.retain_nll > 0) {
        const nll = retainNll(scores(retain, pass, scored));
        out.terms["retain_nll"] = nll.value;
        out.loss += loss.retain_nll * nll.value;
        for (let k = 0; k < n; k++) tokenCot[k] = nll.cot[k]! * loss.retain_nll * scale;
      }
      await this.engine.backward(pass, { tokenLogprobs: tokenCot, kl: klCot });
    }
    return out;
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
  return { batch: batch.batch, seq: batch.seq, logprobs: pass.tokenLogprobs!, scored };
}

function hiddenOf(batch: TrainBatch, pass: ForwardPass): Hidden {
  const dim = pass.hidden!.length / (batch.batch * batch.seq);
  return { batch: batch.batch, seq: batch.seq, dim, values: pass.hidden!, mask: batch.mask };
}

function scaleCot(cot: Float32Array, s: number): Float32Array {
  return s === 1 ? cot : cot.map((c) => c * s);
}
