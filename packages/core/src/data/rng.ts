/**
 * A small seeded PRNG for the synthetic data: a Weyl counter (step 0x9e3779b9, the 32-bit golden ratio)
 * passed through murmur3's 32-bit finaliser. Only 32-bit integer operations (`Math.imul`, shifts, xor),
 * so the stream is identical on every machine and JavaScript engine.
 */
const GOLDEN = 0x9e3779b9;

/** murmur3 fmix32: a bijective avalanche of a 32-bit word. */
export function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a label, for deriving named sub-streams. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng {
  private state: number;

  /** `seed` is any safe integer; both 32-bit halves feed the state. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const low = seed >>> 0;
    const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
    this.state = mix32(low ^ mix32(high + GOLDEN));
  }

  /** The next uniform 32-bit unsigned integer. */
  next(): number {
    this.state = (this.state + GOLDEN) >>> 0;
    return mix32(this.state);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    if (!(n >= 1)) throw new RangeError(`below(${n}): need n >= 1`);
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[this.below(items.length)] as T;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = out[i] as T;
      out[i] = out[j] as T;
      out[j] = t;
    }
    return out;
  }

  /** An independent stream named by `label`; it does not advance this one. */
  fork(label: string): Rng {
    const child = new Rng(0);
    child.state = mix32(this.state ^ mix32(hashLabel(label)));
    return child;
  }

  /** `n` lowercase hexadecimal digits. */
  hex(n: number): string {
    let out = "";
    while (out.length < n) out += this.next().toString(16).padStart(8, "0");
    return out.slice(0, n);
  }
}
