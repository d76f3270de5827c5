/**
 * Representation losses at the residual stream after decoder layer ℓ (docs/unlearning.md §2):
 *
 *   RMU forget   mean((h_θ − c·u)²)             u ~ uniform[0,1)^D normalised, one per topic, fixed
 *   RMU retain   α·mean((h_θ − h_ref)²)
 *   Adaptive RMU c = β · mean over rows of the mean over tokens of ‖h^ℓ‖₂ on the forget batch
 *
 * `mse: all` averages over every element of [B, T, D], padding included (torch.mse_loss, as the WMDP code);
 * `attended` over the elements of non-pad positions (open-unlearning's masking).
 */
import { NormalStream } from "@lethe/model";
import type { LossTerm } from "./tokens.js";

export interface Hidden {
  batch: number;
  seq: number;
  dim: number;
  /** [batch·seq·dim] */
  values: Float32Array;
  /** [batch·seq] attention mask */
  mask: Uint8Array;
}

/** A topic's steering direction: uniform [0,1) in each coordinate, normalised to length 1 (seeded). */
export function steeringDirection(dim: number, seed: number, topic: string): Float32Array {
  const stream = new NormalStream(seed, `rmu.u.${topic}`);
  const u = Float64Array.from({ length: dim }, () => stream.uniform());
  const norm = Math.hypot(...u);
  return Float32Array.from(u, (x) => x / norm);
}

/** mean((h − target)²) with target either one vector [D] (broadcast) or a tensor like h. */
export function mseTo(h: Hidden, target: Float32Array, mse: "all" | "attended", weight = 1): LossTerm {
  const { batch, seq, dim, values, mask } = h;
  const perPosition = target.length === dim;
  let n = 0;
  for (let p = 0; p < batch * seq; p++) if (mse === "all" || mask[p]) n += dim;
  const cot = new Float32Array(values.length);
  let value = 0;
  for (let p = 0; p < batch * seq; p++) {
    if (mse === "attended" && !mask[p]) continue;
    for (let d = 0; d < dim; d++) {
      const k = p * dim + d;
      const diff = values[k]! - target[perPosition ? d : k]!;
      value += (diff * diff) / n;
      cot[k] = (2 * weight * diff) / n;
    }
  }
  return { value: weight * value, cot };
}

/** β · mean_b(mean_t ‖h_{b,t}‖₂), over every position (the Adaptive RMU code averages padding in too). */
export function adaptiveCoefficient(h: Hidden, beta: number): number {
  const { batch, seq, dim, values } = h;
  let total = 0;
  for (let b = 0; b < batch; b++) {
    let row = 0;
    for (let t = 0; t < seq; t++) {
      let sq = 0;
      const base = (b * seq + t) * dim;
      for (let d = 0; d < dim; d++) sq += values[base + d]! ** 2;
      row += Math.sqrt(sq) / seq;
    }
    total += row / batch;
  }
  return beta * total;
}

export function scaled(u: Float32Array, c: number): Float32Array {
  return u.map((x) => x * c);
}
