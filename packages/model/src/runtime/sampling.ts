/**
 * Choosing the next token from a logits row: greedy argmax (first index on ties, as torch.argmax), or sampling
 * with temperature and nucleus (top-p) filtering from a seeded generator, so a seed reproduces a run.
 */

/** A seeded 32-bit generator (mulberry32): small, fast and identical on every platform. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }
}

export interface SamplingOptions {
  /** 0 or undefined: greedy. */
  temperature?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches top_p; default 1 (all). */
  topP?: number;
}

export function argmax(logits: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestValue = logits[offset]!;
  for (let i = 1; i < n; i++) {
    const v = logits[offset + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

export function selectToken(
  logits: Float32Array,
  offset: number,
  vocab: number,
  opts: SamplingOptions,
  rng: SeededRandom,
): number {
  const temperature = opts.temperature ?? 0;
  if (!(temperature > 0)) return argmax(logits, offset, vocab);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i]! / temperature);
  const probs = new Float64Array(vocab);
  let sum = 0;
  for (let i = 0; i < vocab; i++) {
    probs[i] = Math.exp(logits[offset + i]! / temperature - max);
    sum += probs[i]!;
  }
  const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  const topP = opts.topP ?? 1;
  let kept = 0;
  let mass = 0;
  for (const i of order) {
    kept++;
    mass += probs[i]! / sum;
    if (mass >= topP) break;
  }
  let u = rng.next() * (mass * sum);
  for (let k = 0; k < kept; k++) {
    const i = order[k]!;
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return order[kept - 1]!;
}
