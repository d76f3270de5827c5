/**
 * Seeded orders. Every random choice of the data pipeline draws from core's Rng (32-bit integer arithmetic,
 * the same on every machine), in a stream named by what it orders and the epoch, so one stream never shifts
 * another: the same seed gives the same order, whatever else the run does.
 */
import { Rng } from "@lethe/core";

/** 0 … n−1, shuffled by (seed, stream) when `shuffle`, else in order. */
export function seededOrder(n: number, shuffle: boolean, seed: number, stream: string): number[] {
  const indices = Array.from({ length: n }, (_, i) => i);
  return shuffle ? new Rng(seed).fork(stream).shuffled(indices) : indices;
}

/** A seeded shuffle of any list (a copy), or the list itself in order. */
export function seededShuffle<T>(items: readonly T[], shuffle: boolean, seed: number, stream: string): T[] {
  return shuffle ? new Rng(seed).fork(stream).shuffled(items) : items.slice();
}

/** Consecutive chunks of `size`; the last one may be shorter (no row is dropped). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`batch size must be ≥ 1, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
