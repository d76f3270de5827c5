/**
 * AdamW (Loshchilov & Hutter) as torch.optim.AdamW computes it, over the f32 master weights, with
 * global-norm gradient clipping as torch.nn.utils.clip_grad_norm_:
 *
 *   g ← g · min(1, max_norm / (‖g‖₂ + 1e-6))          (‖g‖₂ over every parameter together)
 *   θ ← θ · (1 − lr·λ)                                 (decoupled weight decay)
 *   m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
 *   θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 *
 * One pass over typed arrays per parameter: no per-element objects, no allocation per step.
 */
export interface AdamWOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export interface Trainable {
  value: Float32Array;
  grad: Float32Array;
}

export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly state: AdamWState;

  constructor(
    private readonly params: readonly Trainable[],
    readonly options: AdamWOptions,
  ) {
    this.state = {
      step: 0,
      m: params.map((p) => new Float32Array(p.value.length)),
      v: params.map((p) => new Float32Array(p.value.length)),
    };
  }

  /** One update at learning rate `lr`; gradients are scaled by `gradScale` first (clipping, averaging). */
  step(lr: number, gradScale = 1): void {
    const { betas, eps, weightDecay } = this.options;
    const [b1, b2] = betas;
    const t = ++this.state.step;
    const stepSize = lr / (1 - b1 ** t);
    const sqrtBc2 = Math.sqrt(1 - b2 ** t);
    const decay = 1 - lr * weightDecay;
    this.params.forEach((p, k) => {
      const m = this.state.m[k]!;
      const v = this.state.v[k]!;
      const theta = p.value;
      const grad = p.grad;
      for (let i = 0; i < theta.length; i++) {
        const g = grad[i]! * gradScale;
        const mi = b1 * m[i]! + (1 - b1) * g;
        const vi = b2 * v[i]! + (1 - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        theta[i] = theta[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
      }
    });
  }
}

/** ‖g‖₂ over every parameter's gradient, accumulated in float64. */
export function globalGradNorm(params: readonly Trainable[]): number {
  let sum = 0;
  for (const p of params) {
    const g = p.grad;
    for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
  }
  return Math.sqrt(sum);
}

/** The factor clip_grad_norm_ multiplies every gradient by: min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number | null): number {
  if (maxNorm === null || maxNorm <= 0) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
