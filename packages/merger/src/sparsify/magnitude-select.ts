/**
 * Exact top-k selection by magnitude in O(n), without sorting or index arrays (merging.md §5).
 *
 * Elements are ranked by |value| descending, ties broken by lower flat index first: the deterministic
 * stand-in for mergekit's unstable argsort. A value's magnitude key is the bit pattern of |v| as f32
 * (`bits & 0x7fffffff`): non-negative floats order like their bit patterns, and NaN sorts above Inf as
 * in torch. Selection is two histogram levels over the key: the top 15 bits (32768 bins) and, only when
 * the values in the threshold bin can differ, the low 16 bits of the elements in that bin. Values on the
 * bf16 grid have zero low bits, so bf16 merges need a single pass.
 *
 * The result of selecting the top m is a cut: every element with key > `key` is in, and so are the first
 * `ties` elements (in flat index order) whose key equals `key`. When the tensor is processed in blocks,
 * `tieQuotas` tells each block how many of its own tied elements are in.
 */

export const HIGH_BINS = 1 << 15;
export const LOW_BINS = 1 << 16;

export interface Cut {
  /** Elements with a key above this are selected. -1: everything; 2^31: nothing. */
  key: number;
  /** How many elements with key == `key` are selected, lowest flat index first. */
  ties: number;
}

export const SELECT_ALL: Cut = { key: -1, ties: 0 };
export const SELECT_NONE: Cut = { key: 0x80000000, ties: 0 };

/** Where the m-th largest element lies in a histogram: its bin, and how many of the bin's elements are in. */
export interface BinPosition {
  bin: number;
  /** Elements of this bin that are among the top m. */
  needed: number;
  /** Elements in this bin. */
  count: number;
}

export function locate(hist: ArrayLike<number>, m: number): BinPosition {
  let above = 0;
  for (let bin = hist.length - 1; bin >= 0; bin--) {
    const count = hist[bin]!;
    if (above + count >= m) return { bin, needed: m - above, count };
    above += count;
  }
  throw new Error(`internal: selecting ${m} elements from a histogram of ${above}`);
}

/**
 * First level: the high bin holding the m-th largest key. When the bin holds a single distinct value (a
 * `uniformLowBits` tensor, or only one element needed and all of the bin taken), the cut is final.
 */
export type FirstLevel =
  | { done: true; cut: Cut /** elements whose key equals cut.key */; tied: number }
  | { done: false; bin: number; needed: number };

export function selectFirstLevel(
  high: ArrayLike<number>,
  n: number,
  m: number,
  uniformLowBits: boolean,
): FirstLevel {
  if (m <= 0) return { done: true, cut: SELECT_NONE, tied: 0 };
  if (m >= n) return { done: true, cut: SELECT_ALL, tied: 0 };
  const { bin, needed, count } = locate(high, m);
  if (uniformLowBits) return { done: true, cut: { key: bin << 16, ties: needed }, tied: count };
  // The whole bin is in: cut just below its lowest possible key.
  if (needed === count) return { done: true, cut: { key: (bin << 16) - 1, ties: 0 }, tied: 0 };
  return { done: false, bin, needed };
}

/** Second level: the exact key inside `bin`, given the histogram of the low 16 bits of that bin's keys. */
export function selectSecondLevel(
  bin: number,
  low: ArrayLike<number>,
  needed: number,
): { cut: Cut; tied: number } {
  const { bin: lowBin, needed: ties, count } = locate(low, needed);
  return { cut: { key: (bin << 16) | lowBin, ties }, tied: count };
}

/**
 * The paper's rule (ties-merging `topk_values_mask`): the threshold is the (m+1)-th largest value and every
 * element at or above it is kept, so ties can keep more than m + 1. Given the exact cut for m + 1
 * elements and the number of elements at its key, the cut that keeps all of them.
 */
export function keepAllTies(exact: Cut, tied: number): Cut {
  return { key: exact.key, ties: tied };
}

/**
 * Per-block share of the tied elements: blocks are in flat order, so block b gets what is left of `ties`
 * after the blocks before it, up to its own count of tied elements.
 */
export function tieQuotas(ties: number, tiedPerBlock: readonly number[]): number[] {
  let left = ties;
  return tiedPerBlock.map((count) => {
    const take = Math.min(left, count);
    left -= take;
    return take;
  });
}

/** Add one histogram into another. */
export function accumulate(into: Float64Array, from: ArrayLike<number>): void {
  for (let i = 0; i < from.length; i++) into[i]! += from[i]!;
}
