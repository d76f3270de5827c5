/**
 * `numpy.add.reduce` over a contiguous float64 array: numpy's pairwise summation (identity 0.0 plus
 * `pairwise_sum` of the whole array). Blocks of fewer than 8 values are summed left to right; blocks of up
 * to 128 use 8 interleaved accumulators combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) and then the
 * tail; larger blocks are split in two at a multiple of 8 below the middle.
 */
export function numpySum(values: ArrayLike<number>): number {
  return 0 + pairwiseSum(values, 0, values.length);
}

const BLOCK = 128;

function pairwiseSum(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = -0; // numpy starts from -0.0 so that a sum of negative zeros stays -0.0
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= BLOCK) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[start + j]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    }
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(a, start, half) + pairwiseSum(a, start + half, n - half);
}

/** `numpy.mean` of a float64 array: the pairwise sum divided by n. */
export function numpyMean(values: ArrayLike<number>): number {
  return numpySum(values) / values.length;
}
