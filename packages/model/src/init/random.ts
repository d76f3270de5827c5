/**
 * Seeded normal samples for weight initialisation: xoshiro128** (Blackman & Vigna) for uniforms, Box–Muller
 * for normals. Every tensor draws from its own stream keyed by (seed, tensor name), so a tensor's values do not
 * depend on which other tensors exist or in what order they are written. 32-bit integer arithmetic only, so the
 * stream is the same on every machine.
 */

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** splitmix32's output function: an avalanche of a 32-bit word. */
function mix(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a label. */
function fnv1a(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class NormalStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  /** `seed`: a safe non-negative integer; `label`: names the stream (e.g. the tensor name). */
  constructor(seed: number, label = "") {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    const low = seed >>> 0;
    const high = Math.floor(seed / 2 ** 32) >>> 0;
    const key = fnv1a(label);
    this.s0 = mix(low ^ 0x243f6a88);
    this.s1 = mix(high ^ 0x85a308d3);
    this.s2 = mix(key ^ 0x13198a2e);
    this.s3 = mix((low ^ key ^ 0x03707344) >>> 0);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    for (let i = 0; i < 8; i++) this.nextUint32(); // let the seeding words diffuse
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in (0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 2 ** 26 + lo + 0.5) / 2 ** 53;
  }

  /** Standard normal: Box–Muller, using both values of each pair. */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

/** `n` samples of N(mean, std²) from the stream (seed, label), as float32. */
export function normalTensor(n: number, std: number, seed: number, label: string, mean = 0): Float32Array {
  const stream = new NormalStream(seed, label);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * stream.normal();
  return out;
}
