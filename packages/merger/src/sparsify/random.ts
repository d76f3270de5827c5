/**
 * Counter-based randomness for DARE and DELLA: Philox4x32-10 (Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3", SC 2011). The random word of element e of model m in tensor t is a pure function of
 * (seed, t's name, m, e), so a merge draws the same masks on every run, with any number of threads, on
 * any machine. mergekit's own draws come from torch's generator and cannot be reproduced outside torch;
 * only their statistics carry over (merging.md §1.4).
 *
 * Key: two 32-bit words hashed from the seed and the tensor name. Counter: (e / 4 low word, e / 4 high
 * word, model index, stream); each Philox block yields the words of 4 consecutive elements.
 */

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

/** Streams keep the uses of the generator apart. */
export const STREAM_DARE = 0;
export const STREAM_DELLA = 1;
export const STREAM_SVD = 2;

/** High 32 bits of the 64-bit product of two uint32. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32-10 of one counter under one key; writes 4 words into out[at..at+4). */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  at = 0,
): void {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(PHILOX_M0, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi(PHILOX_M1, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + PHILOX_W0) >>> 0;
    key1 = (key1 + PHILOX_W1) >>> 0;
  }
  out[at] = x0;
  out[at + 1] = x1;
  out[at + 2] = x2;
  out[at + 3] = x3;
}

export interface RandomKey {
  k0: number;
  k1: number;
}

/** The Philox key of (seed, tensor name): FNV-1a over the UTF-8 name, mixed with the seed's two halves. */
export function randomKey(seed: number, tensorName: string): RandomKey {
  const bytes = new TextEncoder().encode(tensorName);
  let h0 = 0x811c9dc5;
  let h1 = 0x01000193 ^ 0x5bd1e995;
  for (const b of bytes) {
    h0 = Math.imul(h0 ^ b, 0x01000193);
    h1 = Math.imul(h1 ^ b, 0x5bd1e995);
    h1 ^= h1 >>> 13;
  }
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 2 ** 32) >>> 0;
  return { k0: mix32(h0 ^ seedLo), k1: mix32(h1 ^ mix32(seedHi + 0x9e3779b9)) };
}

/** A 32-bit finalizer (lowbias32, C. Wellons): every input bit affects every output bit. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The random words of elements [start, start + count) of one model and stream, into out[0..count).
 * Identical to calling the generator element by element, whatever `start` is.
 */
export function randomWords(
  key: RandomKey,
  model: number,
  stream: number,
  start: number,
  count: number,
  out: Uint32Array,
): Uint32Array {
  const block = new Uint32Array(4);
  let e = start;
  const end = start + count;
  while (e < end) {
    const counter = Math.floor(e / 4);
    philox4x32(counter >>> 0, Math.floor(counter / 2 ** 32), model, stream, key.k0, key.k1, block);
    const lane0 = e - counter * 4;
    for (let lane = lane0; lane < 4 && e < end; lane++, e++) out[e - start] = block[lane]!;
  }
  return out;
}

/** A uniform in [0, 1) from a random word. */
export function uniform(word: number): number {
  return word / 4294967296;
}

/** Bernoulli(p) from a random word: kept when the uniform falls below p. */
export function bernoulli(word: number, p: number): boolean {
  return word < p * 4294967296;
}
