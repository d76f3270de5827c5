/**
 * Per-token statistics of a batch as the loss head returns them, and the masks the losses reduce over.
 * Position k of row b (flat index b·T + k) holds log p(label at k), where the label is the next token.
 */
import { IGNORE } from "../data/encode.js";

export interface TokenScores {
  batch: number;
  seq: number;
  /** [batch·seq] log p of the next token. */
  logprobs: Float32Array;
  /** [batch·seq] 1 where the next token is labelled. */
  scored: Uint8Array;
}

/** A term of the loss: its value and ∂value/∂(the statistic it was computed from), same layout. */
export interface LossTerm {
  value: number;
  cot: Float32Array;
}

/** Next-token labels with −100 → the head's `labels` (0 where unscored: any valid id) and the scored mask. */
export function scoredTargets(nextLabels: BigInt64Array): { targets: BigInt64Array; scored: Uint8Array } {
  const targets = new BigInt64Array(nextLabels.length);
  const scored = new Uint8Array(nextLabels.length);
  const ignore = BigInt(IGNORE);
  for (let k = 0; k < nextLabels.length; k++) {
    if (nextLabels[k] === ignore) continue;
    targets[k] = nextLabels[k]!;
    scored[k] = 1;
  }
  return { targets, scored };
}

/** Σ of −log p over each row's labelled tokens, and how many there are. */
export function rowNll(s: TokenScores): { sums: Float64Array; counts: Int32Array } {
  const sums = new Float64Array(s.batch);
  const counts = new Int32Array(s.batch);
  for (let b = 0; b < s.batch; b++) {
    for (let k = b * s.seq; k < (b + 1) * s.seq; k++) {
      if (!s.scored[k]) continue;
      sums[b]! -= s.logprobs[k]!;
      counts[b]!++;
    }
  }
  return { sums, counts };
}

/** ℓ = Σ −log p / N over every labelled token of the batch (Hugging Face's causal-LM loss). */
export function meanTokenNll(s: TokenScores): LossTerm {
  const { sums, counts } = rowNll(s);
  const n = counts.reduce((a, c) => a + c, 0);
  if (n === 0) throw new Error("the batch has no labelled token (is every target cut away by max_len?)");
  const value = sums.reduce((a, x) => a + x, 0) / n;
  const cot = new Float32Array(s.logprobs.length);
  for (let k = 0; k < cot.length; k++) if (s.scored[k]) cot[k] = -1 / n;
  return { value, cot };
}

/** w·term, its cotangent scaled alike. */
export function weighted(term: LossTerm, w: number): LossTerm {
  return { value: w * term.value, cot: term.cot.map((c) => c * w) };
}

/** log σ(z), stable for large |z|. */
export function logSigmoid(z: number): number {
  return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
