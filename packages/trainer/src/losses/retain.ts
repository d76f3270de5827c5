/**
 * Retain-side terms: the NLL on retain rows, and KL(p_ref ‖ p_θ) per position reduced as ZJU
 * (`all`: Σ over every position, padding included, / (B·T), i.e. F.kl_div(..., reduction="batchmean") over
 * B·T rows) or over attended positions only (`attended`: / their count).
 */
import { type LossTerm, meanTokenNll, type TokenScores } from "./tokens.js";

export function retainNll(policy: TokenScores): LossTerm {
  return meanTokenNll(policy);
}

/** `kl` [B·T] per position; `mask` [B·T] the attention mask. */
export function retainKl(kl: Float32Array, mask: Uint8Array, positions: "all" | "attended"): LossTerm {
  const cot = new Float32Array(kl.length);
  let n = 0;
  for (let k = 0; k < kl.length; k++) if (positions === "all" || mask[k]) n++;
  let value = 0;
  for (let k = 0; k < kl.length; k++) {
    if (positions === "attended" && !mask[k]) continue;
    value += kl[k]! / n;
    cot[k] = 1 / n;
  }
  return { value, cot };
}
