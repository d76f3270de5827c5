// The fused bf16 kernels of src/kernels/gta-bf16.ts in WebAssembly SIMD (AssemblyScript), four elements a
// step. The caller passes byte offsets of the inputs in this module's memory. Kernels read whole groups of
// four (up to 6 bytes past a u16 input's last element) but count, flag and write only `count` elements.
//
// Lanes hold bf16 bit patterns zero-extended to 32 bits, or f32 values. Every f32 operation here is the one
// the generic kernel performs in f64 and rounds to f32 (a sum, product or quotient of two f32 values rounded
// once to f32 equals the f32 operation, since 53 ≥ 2·24 + 2), and every rounding to bf16 is
// round-to-nearest-even on the f32 bits, so the output is bit for bit the generic kernel's. Counts are exact;
// sums of squares are accumulated in f64 per lane, so they may differ from a sequential sum in the last bits.

/** Flags returned by scan(): some δ was NaN or infinite; some δ was NaN. */
const NON_FINITE: i32 = 1;
const NAN: i32 = 2;

/** Where the caller may lay out its buffers: past this module's own static data, 16-byte aligned. */
export function dataStart(): usize {
  return (__heap_base + 15) & ~(15 as usize);
}

function splat(x: i32): v128 {
  return i32x4.splat(x);
}

/** bf16 bits (zero-extended lanes) → f32. */
function widen(h: v128): v128 {
  return i32x4.shl(h, 16);
}

/** f32 → bf16 bits by round-to-nearest-even, in the low 16 bits of each lane. */
function roundBits(u: v128): v128 {
  return i32x4.shr_u(i32x4.add(i32x4.add(u, splat(0x7fff)), v128.and(i32x4.shr_u(u, 16), splat(1))), 16);
}

/** f32 → the same value rounded to bf16, as f32. */
function roundValue(u: v128): v128 {
  return i32x4.shl(roundBits(u), 16);
}

/** All-ones lanes where an f32 is NaN or infinite. */
function nonFinite(u: v128): v128 {
  return i32x4.gt_s(v128.and(u, splat(0x7fffffff)), splat(0x7f7fffff));
}

/** All-ones lanes for the first `count - j` of these four. */
function validLanes(j: i32, count: i32): v128 {
  return i32x4.lt_s(i32x4.add(splat(j), i32x4(0, 1, 2, 3)), splat(count));
}

/**
 * Adds the |δ| bits (bf16 magnitude) of `count` elements to two interleaved histograms at hist and
 * hist + 2^17 (u32[2^15] each; foldHistograms adds them up). Returns NON_FINITE | NAN over the f32
 * differences.
 * Reads whole groups of four, but counts and flags only the first `count` elements.
 */
export function scan(x: usize, base: usize, count: i32, hist: usize): i32 {
  let nonFiniteAny = splat(0);
  let nanAny = splat(0);
  const other = hist + (1 << 17);
  for (let j = 0; j < count; j += 4) {
    const offset = (j as usize) << 1;
    const d = f32x4.sub(widen(v128.load16x4_u(x + offset)), widen(v128.load16x4_u(base + offset)));
    const magnitude = v128.and(v128.and(d, splat(0x7fffffff)), validLanes(j, count));
    nonFiniteAny = v128.or(nonFiniteAny, i32x4.gt_s(magnitude, splat(0x7f7fffff)));
    nanAny = v128.or(nanAny, i32x4.gt_s(magnitude, splat(0x7f800000)));
    // Bin slots (byte offsets) of the four magnitudes; neighbours go to different histograms so that runs of
    // equal magnitudes do not wait on each other's increments.
    const slots = i32x4.shl(v128.and(roundBits(d), splat(0x7fff)), 2);
    const lanes = min(count - j, 4);
    const s0 = hist + (i32x4.extract_lane(slots, 0) as usize);
    store<u32>(s0, load<u32>(s0) + 1);
    const s1 = other + (i32x4.extract_lane(slots, 1) as usize);
    store<u32>(s1, load<u32>(s1) + (lanes > 1 ? 1 : 0));
    const s2 = hist + (i32x4.extract_lane(slots, 2) as usize);
    store<u32>(s2, load<u32>(s2) + (lanes > 2 ? 1 : 0));
    const s3 = other + (i32x4.extract_lane(slots, 3) as usize);
    store<u32>(s3, load<u32>(s3) + (lanes > 3 ? 1 : 0));
  }
  return (v128.any_true(nonFiniteAny) ? NON_FINITE : 0) | (v128.any_true(nanAny) ? NAN : 0);
}

/**
 * One model over a chunk: δ = R(X − B), the trim (kept when the magnitude key |δ| as f32 bits is above
 * `cut`, or equal to it while `quota` lasts, in element order) and the weighting: wd (f32) gets R(w·δ) for
 * kept elements, +0 otherwise. Adds [kept, kept nonzero, Σδ², Σ kept δ²] to sums (f64[4]) and sets the i32 at
 * sums + 32 to 1 if X − B, δ or R(w·δ̂) was NaN or infinite somewhere. Returns the quota left.
 */
export function trimWeight(
  x: usize,
  base: usize,
  count: i32,
  weight: f32,
  cut: i32,
  quota: i32,
  wd: usize,
  sums: usize,
): i32 {
  const w = f32x4.splat(weight);
  const cutv = splat(cut);
  let bad = splat(0);
  let kept = splat(0);
  let nonzero = splat(0);
  let sqBefore = f64x2.splat(0);
  let sqAfter = f64x2.splat(0);
  for (let j = 0; j < count; j += 4) {
    const offset = (j as usize) << 1;
    const difference = f32x4.sub(widen(v128.load16x4_u(x + offset)), widen(v128.load16x4_u(base + offset)));
    const valid = validLanes(j, count);
    const d = v128.and(roundValue(difference), valid); // lanes past the end: δ = 0, never kept
    const key = v128.and(d, splat(0x7fffffff));
    let keep = v128.and(i32x4.gt_s(key, cutv), valid);
    if (quota > 0) {
      let ties = i32x4.bitmask(v128.and(i32x4.eq(key, cutv), valid));
      let tied = 0;
      while (ties !== 0 && quota > 0) {
        tied |= ties & -ties; // the lowest tied lane
        ties &= ties - 1;
        quota--;
      }
      keep = v128.or(keep, i32x4.ne(v128.and(splat(tied), i32x4(1, 2, 4, 8)), splat(0)));
    }
    // Mask lanes are -1: subtracting them counts.
    kept = i32x4.sub(kept, keep);
    nonzero = i32x4.sub(nonzero, v128.and(keep, i32x4.ne(key, splat(0))));
    const low = f64x2.promote_low_f32x4(d);
    const high = f64x2.promote_low_f32x4(i32x4.shuffle(d, d, 2, 3, 0, 1));
    const sqLow = f64x2.mul(low, low);
    const sqHigh = f64x2.mul(high, high);
    sqBefore = f64x2.add(sqBefore, f64x2.add(sqLow, sqHigh));
    const keepLow = i64x2.extend_low_i32x4_s(keep);
    const keepHigh = i64x2.extend_high_i32x4_s(keep);
    sqAfter = f64x2.add(sqAfter, f64x2.add(v128.and(sqLow, keepLow), v128.and(sqHigh, keepHigh)));
    // R(w·δ̂) with δ̂ = δ where kept, else 0: any NaN or infinity on the way (X − B, its rounding, the
    // product, e.g. Inf·0 for an infinite weight) sends the block to the generic kernel.
    const weighted = roundValue(f32x4.mul(v128.and(d, keep), w));
    bad = v128.or(
      bad,
      v128.and(v128.or(v128.or(nonFinite(difference), nonFinite(d)), nonFinite(weighted)), valid),
    );
    v128.store(wd + ((j as usize) << 2), weighted);
  }
  store<f64>(sums, load<f64>(sums) + <f64>laneSum(kept));
  store<f64>(sums, load<f64>(sums, 8) + <f64>laneSum(nonzero), 8);
  store<f64>(
    sums,
    load<f64>(sums, 16) + f64x2.extract_lane(sqBefore, 0) + f64x2.extract_lane(sqBefore, 1),
    16,
  );
  store<f64>(sums, load<f64>(sums, 24) + f64x2.extract_lane(sqAfter, 0) + f64x2.extract_lane(sqAfter, 1), 24);
  store<i32>(sums, v128.any_true(bad) ? 1 : 0, 32);
  return quota;
}

function laneSum(v: v128): i32 {
  return (
    i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3)
  );
}

/** The divisor D[pattern] of each lane (f32 table). */
function gatherDivisors(divisors: usize, p: v128): v128 {
  let d = f32x4.splat(load<f32>(divisors + ((i32x4.extract_lane(p, 0) as usize) << 2)));
  d = f32x4.replace_lane(d, 1, load<f32>(divisors + ((i32x4.extract_lane(p, 1) as usize) << 2)));
  d = f32x4.replace_lane(d, 2, load<f32>(divisors + ((i32x4.extract_lane(p, 2) as usize) << 2)));
  return f32x4.replace_lane(d, 3, load<f32>(divisors + ((i32x4.extract_lane(p, 3) as usize) << 2)));
}

/**
 * out[j..j+4) = R(b + R(λ · R(R(t) / d))) as bf16 bits, dividing when `normalize` and scaling when λ ≠ 1;
 * only the first `count - j` lanes are written. Returns the lanes (of those) where a value about to be rounded
 * was NaN or infinite.
 */
function output(
  t: v128,
  d: v128,
  normalize: bool,
  lambda: f32,
  base: usize,
  out: usize,
  j: i32,
  count: i32,
): v128 {
  let u = t;
  let g = splat(0);
  if (normalize) {
    g = nonFinite(u);
    u = f32x4.div(roundValue(u), d);
  }
  if (lambda !== 1) {
    g = v128.or(g, nonFinite(u));
    u = f32x4.mul(roundValue(u), f32x4.splat(lambda));
  }
  g = v128.or(g, nonFinite(u));
  u = f32x4.add(widen(v128.load16x4_u(base + ((j as usize) << 1))), roundValue(u));
  g = v128.or(g, nonFinite(u));
  const bits = i16x8.narrow_i32x4_u(roundBits(u), splat(0));
  const to = out + ((j as usize) << 1);
  if (count - j >= 4) {
    v128.store64_lane(to, bits, 0);
    return g;
  }
  // The last, partial group: lanes past the end belong to someone else (another block, another tensor).
  v128.store16_lane(to, bits, 0);
  if (count - j > 1) v128.store16_lane(to, bits, 1, 2);
  if (count - j > 2) v128.store16_lane(to, bits, 2, 4);
  return v128.and(g, validLanes(j, count));
}

/**
 * voteFinish for two models with a vote: the same arithmetic with the tallies in registers and the divisor
 * chosen by selects (d0: neither agrees, d1: model 0, d2: model 1, d3: both).
 */
export function votePairFinish(
  wd0: usize,
  wd1: usize,
  count: i32,
  normalize: bool,
  d0: f32,
  d1: f32,
  d2: f32,
  d3: f32,
  lambda: f32,
  base: usize,
  out: usize,
  tally: usize,
): i32 {
  const zero = f32x4.splat(0);
  let agreed0 = v128.load(tally);
  let agreed1 = v128.load(tally, 16);
  let conflicts = v128.load(tally, 32);
  let bad = splat(0);
  for (let j = 0; j < count; j += 4) {
    const at = (j as usize) << 2;
    const a = v128.load(wd0 + at);
    const b = v128.load(wd1 + at);
    const aPositive = f32x4.gt(a, zero);
    const aNegative = f32x4.lt(a, zero);
    const bPositive = f32x4.gt(b, zero);
    const bNegative = f32x4.lt(b, zero);
    conflicts = i32x4.sub(conflicts, v128.or(v128.and(aPositive, bNegative), v128.and(aNegative, bPositive)));
    const electNegative = v128.not(f32x4.ge(f32x4.add(f32x4.add(zero, a), b), zero));
    const agreeA = v128.bitselect(aNegative, aPositive, electNegative);
    const agreeB = v128.bitselect(bNegative, bPositive, electNegative);
    agreed0 = i32x4.sub(agreed0, agreeA);
    agreed1 = i32x4.sub(agreed1, agreeB);
    const sum = f32x4.add(f32x4.add(zero, v128.and(a, agreeA)), v128.and(b, agreeB));
    const d = v128.bitselect(
      v128.bitselect(f32x4.splat(d3), f32x4.splat(d1), agreeB),
      v128.bitselect(f32x4.splat(d2), f32x4.splat(d0), agreeB),
      agreeA,
    );
    bad = v128.or(bad, output(sum, d, normalize, lambda, base, out, j, count));
  }
  v128.store(tally, agreed0);
  v128.store(tally, agreed1, 16);
  v128.store(tally, conflicts, 32);
  return v128.any_true(bad) ? 1 : 0;
}

/**
 * The vote, the disjoint sum and the output, over n models' weighted deltas (f32 rows `stride` bytes apart
 * from wd, all finite). With `consensus`, the elected sign is that of the f32 sum of the deltas (≥ 0 elects
 * +1), t = the
 * sum of the deltas on the elected side and the pattern says which models those are; without, t = the sum of
 * all. Then out = R(b + R(λ · R(R(t) / D[pattern]))) as bf16 bits, dividing when `normalize` (D: f32 per
 * pattern) and scaling when λ ≠ 1. Adds to tally (i32x4 lanes, n + 1 of them: agreements per model, then
 * conflicts). Returns 1 when a value about to be rounded was NaN or infinite, else 0.
 */
export function voteFinish(
  wd: usize,
  stride: usize,
  n: i32,
  count: i32,
  consensus: bool,
  normalize: bool,
  divisors: usize,
  lambda: f32,
  base: usize,
  out: usize,
  tally: usize,
): i32 {
  const zero = f32x4.splat(0);
  const conflictsAt = tally + ((n as usize) << 4);
  let conflicts = v128.load(conflictsAt);
  let bad = splat(0);
  for (let j = 0; j < count; j += 4) {
    const at = (j as usize) << 2;
    let sum = zero;
    let p = splat(0);
    if (consensus) {
      let votes = zero;
      let positive = splat(0);
      let negative = splat(0);
      for (let i = 0; i < n; i++) {
        const dw = v128.load(wd + stride * i + at);
        votes = f32x4.add(votes, dw);
        positive = v128.or(positive, f32x4.gt(dw, zero));
        negative = v128.or(negative, f32x4.lt(dw, zero));
      }
      conflicts = i32x4.sub(conflicts, v128.and(positive, negative));
      const electNegative = v128.not(f32x4.ge(votes, zero)); // mergekit: sum >= 0 elects +1
      for (let i = 0; i < n; i++) {
        const dw = v128.load(wd + stride * i + at);
        const agree = v128.bitselect(f32x4.lt(dw, zero), f32x4.gt(dw, zero), electNegative);
        sum = f32x4.add(sum, v128.and(dw, agree));
        p = v128.or(p, v128.and(agree, splat(1 << i)));
        const slot = tally + ((i as usize) << 4);
        v128.store(slot, i32x4.sub(v128.load(slot), agree));
      }
    } else {
      for (let i = 0; i < n; i++) {
        const dw = v128.load(wd + stride * i + at);
        sum = f32x4.add(sum, dw);
        const slot = tally + ((i as usize) << 4);
        v128.store(slot, i32x4.sub(v128.load(slot), f32x4.ne(dw, zero)));
      }
    }
    bad = v128.or(
      bad,
      output(
        sum,
        normalize ? gatherDivisors(divisors, p) : f32x4.splat(1),
        normalize,
        lambda,
        base,
        out,
        j,
        count,
      ),
    );
  }
  v128.store(conflictsAt, conflicts);
  return v128.any_true(bad) ? 1 : 0;
}

/** Adds the second of scan()'s two histograms (at hist + 2^17) into the first. */
export function foldHistograms(hist: usize): void {
  const other = hist + (1 << 17);
  for (let at: usize = 0; at < 1 << 17; at += 16) {
    v128.store(hist + at, i32x4.add(v128.load(hist + at), v128.load(other + at)));
  }
}
