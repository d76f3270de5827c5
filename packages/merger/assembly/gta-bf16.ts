// The fused bf16 kernels of src/kernels/gta-bf16.ts in WebAssembly SIMD (AssemblyScript), four elements a
// step. The caller passes byte offsets of the inputs in this module's memory. Kernels read whole groups of
// four (up to 6 bytes past a u16 input's last element) but count, flag and write only `count` elements.
//
// Lanes hold bf16 bit patterns zero-extended to 32 bits, or f32 values. Every f32 operation here is the one
// the generic kernel performs in f64 and rounds to f32 (a sum, product or quotient of two f32 values rounded
// once to f32 equals the f32 operation, since 53 ≥ 2·24 + 2), and every rounding to bf16 is
// round-to-nearest-even on the f32 bits, so the output is bit for bit the generic kernel's. Counts are exact;
// sums of squares are accumulated in f64 per lane, so they may differ from a sequential sum in the last bits.

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
  return v128.and(
    i32x4.add(i32x4.add(u, splat(0x7fff)), v128.and(i32x4.shr_u(u, 16), splat(1))),
    splat(0xffff0000),
  );
}

/** All-ones lanes where an f32 is NaN or infinite. */
function nonFinite(u: v128): v128 {
  return i32x4.gt_s(v128.and(u, splat(0x7fffffff)), splat(0x7f7fffff));
}

/** All-ones lanes for the first `count - j` of these four. */
function validLanes(j: i32, count: i32): v128 {
  return i32x4.lt_s(i32x4.add(splat(j), i32x4(0, 1, 2, 3)), splat(count));
}

/** Eight bf16 lanes → the f32 values of the low four / high four (bf16 bits are the f32's high half). */
function low4(v: v128): v128 {
  return v128.shuffle<u16>(splat(0), v, 0, 8, 1, 9, 2, 10, 3, 11);
}
function high4(v: v128): v128 {
  return v128.shuffle<u16>(splat(0), v, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** Two f32x4 → eight bf16 lanes, each rounded to nearest even. */
function roundPack(low: v128, high: v128): v128 {
  return i16x8.narrow_i32x4_u(roundBits(low), roundBits(high));
}

/** The bf16 bits of δ = R(X − B) for eight elements, given B's f32 halves. */
function deltaBits8(x: v128, baseLow: v128, baseHigh: v128): v128 {
  return roundPack(f32x4.sub(low4(x), baseLow), f32x4.sub(high4(x), baseHigh));
}

/** One count in the histogram of bf16 magnitude key `key` (byte offset key·4). */
function bump(hist: usize, key: u32): void {
  const slot = hist + ((key as usize) << 2);
  store<u32>(slot, load<u32>(slot) + 1);
}

/** Size of one histogram: u32 per bf16 magnitude key. */
const HIST_BYTES: usize = 1 << 17;

/** Counts eight keys (i16 lanes) in the four histograms at hist, lane i in histogram i mod 4. */
function bumpEight(hist: usize, keys: v128): void {
  bump(hist, i16x8.extract_lane_u(keys, 0));
  bump(hist + HIST_BYTES, i16x8.extract_lane_u(keys, 1));
  bump(hist + 2 * HIST_BYTES, i16x8.extract_lane_u(keys, 2));
  bump(hist + 3 * HIST_BYTES, i16x8.extract_lane_u(keys, 3));
  bump(hist, i16x8.extract_lane_u(keys, 4));
  bump(hist + HIST_BYTES, i16x8.extract_lane_u(keys, 5));
  bump(hist + 2 * HIST_BYTES, i16x8.extract_lane_u(keys, 6));
  bump(hist + 3 * HIST_BYTES, i16x8.extract_lane_u(keys, 7));
}

/**
 * Adds the bf16 magnitude keys of δ = R(X − B) for `count` elements to four interleaved histograms at hist,
 * hist + 2^17, … (u32[2^15] each; foldHistograms adds them up): neighbours go to different histograms so that
 * runs of equal magnitudes do not wait on each other's increments. NaN and infinite δ land in keys ≥ 0x7f80,
 * so the caller reads them off the histogram. Reads whole groups of eight but counts only `count` elements.
 */
export function scan(x: usize, base: usize, count: i32, hist: usize): void {
  const magnitude = i16x8.splat(0x7fff);
  const full = count & ~7;
  for (let j = 0; j < full; j += 8) {
    const offset = (j as usize) << 1;
    const b = v128.load(base + offset);
    const keys = v128.and(deltaBits8(v128.load(x + offset), low4(b), high4(b)), magnitude);
    bumpEight(hist, keys);
  }
  for (let j = full; j < count; j++) {
    const offset = (j as usize) << 1;
    const d =
      reinterpret<f32>((load<u16>(x + offset) as u32) << 16) -
      reinterpret<f32>((load<u16>(base + offset) as u32) << 16);
    const u = reinterpret<u32>(d);
    bump(hist, ((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0x7fff);
  }
}

/** The lowest `quota` set bits of `bits` (all of them if fewer). */
function firstBits(bits: i32, quota: i32): i32 {
  let taken = 0;
  while (bits !== 0 && quota > 0) {
    taken |= bits & -bits;
    bits &= bits - 1;
    quota--;
  }
  return taken;
}

/** All-ones i16 lanes where bit `lane` of `bits` is set. */
function laneMask8(bits: i32): v128 {
  return i16x8.ne(v128.and(i16x8.splat(bits as i16), i16x8(1, 2, 4, 8, 16, 32, 64, 128)), i16x8.splat(0));
}

/** The bits of the valid lanes whose key equals the cut, as many as the quota takes, lowest lane first. */
function tiedLanes(key: v128, cut: v128, valid: v128, quota: i32): i32 {
  return quota > 0 ? firstBits(i16x8.bitmask(v128.and(i16x8.eq(key, cut), valid)), quota) : 0;
}

/** All-ones i16 lanes that are kept: valid with a key above the cut, or among the `tied` lanes. */
function keepMask(key: v128, cut: v128, valid: v128, tied: i32): v128 {
  const above = v128.and(i16x8.gt_s(key, cut), valid);
  return tied === 0 ? above : v128.or(above, laneMask8(tied));
}

/** Where mergePair keeps its counts: i32x4 lanes, then i32s. */
const AGREED0: usize = 0;
const AGREED1: usize = 16;
const CONFLICTS: usize = 32;
const KEPT0: usize = 48;
const KEPT1: usize = 52;
const NONZERO0: usize = 56;
const NONZERO1: usize = 60;
const QUOTA0: usize = 64;
const QUOTA1: usize = 68;

/** Adds the eight i16 lanes of a count to the i32 at `at`. */
function addLanes16(at: usize, v: v128): void {
  const wide = i32x4.add(i32x4.extend_low_i16x8_s(v), i32x4.extend_high_i16x8_s(v));
  store<i32>(at, load<i32>(at) + laneSum(wide));
}

/**
 * TIES for two models (mergekit semantics, bf16), in one pass, eight elements a step: per model δ = R(X − B),
 * kept when its magnitude key is above the cut or equal to it while the quota lasts (the quotas are i32s at
 * state + 64 and + 68, read and written back), δ̂ = R(w·δ); then the vote (the sign of δ̂0 + δ̂1, ≥ 0
 * electing +1), the sum t of the agreeing δ̂ and out = R(b + R(λ · R(R(t) / d))), d chosen by which models
 * agree (d0: neither, d1: model 0, d2: model 1, d3: both), dividing when `normalize` and scaling when λ ≠ 1.
 * Adds to the counts at state (agreements, conflicts, kept, kept nonzero; see the offsets above).
 *
 * The caller has checked that the histograms hold no NaN or infinite δ, and that the weights, λ and divisors
 * are finite: then any NaN or infinity on the way reaches the output, so checking the output is enough.
 * Returns 1 when an output was NaN or infinite (the caller redoes the block with the generic kernel), else 0.
 * Reads whole groups of eight; counts and writes only `count` elements. Lane indices and counts are i16:
 * count ≤ 2^15 − 8 (a chunk is 8192).
 */
export function mergePair(
  x0: usize,
  x1: usize,
  base: usize,
  count: i32,
  w0: f32,
  w1: f32,
  cut0: i32,
  cut1: i32,
  normalize: bool,
  d0: f32,
  d1: f32,
  d2: f32,
  d3: f32,
  lambda: f32,
  out: usize,
  state: usize,
): i32 {
  const zero = f32x4.splat(0);
  const magnitude = i16x8.splat(0x7fff);
  const cutA = i16x8.splat(cut0 as i16);
  const cutB = i16x8.splat(cut1 as i16);
  const weightA = f32x4.splat(w0);
  const weightB = f32x4.splat(w1);
  const divisor0 = f32x4.splat(d0);
  const divisor1 = f32x4.splat(d1);
  const divisor2 = f32x4.splat(d2);
  const divisor3 = f32x4.splat(d3);
  const scale = f32x4.splat(lambda);
  let quotaA = load<i32>(state + QUOTA0);
  let quotaB = load<i32>(state + QUOTA1);
  let agreedA = v128.load(state + AGREED0);
  let agreedB = v128.load(state + AGREED1);
  let conflicts = v128.load(state + CONFLICTS);
  let keptA = i16x8.splat(0);
  let keptB = i16x8.splat(0);
  let nonzeroA = i16x8.splat(0);
  let nonzeroB = i16x8.splat(0);
  let bad = i16x8.splat(0);
  for (let j = 0; j < count; j += 8) {
    const offset = (j as usize) << 1;
    const valid = i16x8.lt_s(
      i16x8.add(i16x8.splat(j as i16), i16x8(0, 1, 2, 3, 4, 5, 6, 7)),
      i16x8.splat(min(count, j + 8) as i16),
    );
    const b = v128.load(base + offset);
    const baseLow = low4(b);
    const baseHigh = high4(b);

    const deltaA = deltaBits8(v128.load(x0 + offset), baseLow, baseHigh);
    const keyA = v128.and(deltaA, magnitude);
    const tiedA = tiedLanes(keyA, cutA, valid, quotaA);
    quotaA -= popcnt(tiedA);
    const keepA = keepMask(keyA, cutA, valid, tiedA);
    const deltaB = deltaBits8(v128.load(x1 + offset), baseLow, baseHigh);
    const keyB = v128.and(deltaB, magnitude);
    const tiedB = tiedLanes(keyB, cutB, valid, quotaB);
    quotaB -= popcnt(tiedB);
    const keepB = keepMask(keyB, cutB, valid, tiedB);
    // Mask lanes are -1: subtracting them counts.
    keptA = i16x8.sub(keptA, keepA);
    keptB = i16x8.sub(keptB, keepB);
    nonzeroA = i16x8.sub(nonzeroA, v128.and(keepA, i16x8.ne(keyA, i16x8.splat(0))));
    nonzeroB = i16x8.sub(nonzeroB, v128.and(keepB, i16x8.ne(keyB, i16x8.splat(0))));
    // A NaN or infinite δ (none, if the histograms were checked): hand the block back.
    bad = v128.or(
      bad,
      v128.and(v128.or(i16x8.gt_s(keyA, i16x8.splat(0x7f7f)), i16x8.gt_s(keyB, i16x8.splat(0x7f7f))), valid),
    );
    const keptDeltaA = v128.and(deltaA, keepA);
    const keptDeltaB = v128.and(deltaB, keepB);

    // The weighted deltas, the vote, the disjoint sum and the output, four lanes at a time.
    const aLow = roundValue(f32x4.mul(low4(keptDeltaA), weightA));
    const aHigh = roundValue(f32x4.mul(high4(keptDeltaA), weightA));
    const cLow = roundValue(f32x4.mul(low4(keptDeltaB), weightB));
    const cHigh = roundValue(f32x4.mul(high4(keptDeltaB), weightB));
    conflicts = i32x4.sub(i32x4.sub(conflicts, oppositeSigns(aLow, cLow)), oppositeSigns(aHigh, cHigh));
    // Finite δ̂ (else the output is not): !(sum ≥ 0) is sum < 0.
    const negativeLow = f32x4.lt(f32x4.add(aLow, cLow), zero);
    const negativeHigh = f32x4.lt(f32x4.add(aHigh, cHigh), zero);
    const agreeALow = agrees(aLow, negativeLow);
    const agreeAHigh = agrees(aHigh, negativeHigh);
    const agreeCLow = agrees(cLow, negativeLow);
    const agreeCHigh = agrees(cHigh, negativeHigh);
    agreedA = i32x4.sub(i32x4.sub(agreedA, agreeALow), agreeAHigh);
    agreedB = i32x4.sub(i32x4.sub(agreedB, agreeCLow), agreeCHigh);
    const resultLow = pairOutput(
      aLow,
      cLow,
      agreeALow,
      agreeCLow,
      normalize,
      divisor0,
      divisor1,
      divisor2,
      divisor3,
      lambda,
      scale,
      baseLow,
    );
    const resultHigh = pairOutput(
      aHigh,
      cHigh,
      agreeAHigh,
      agreeCHigh,
      normalize,
      divisor0,
      divisor1,
      divisor2,
      divisor3,
      lambda,
      scale,
      baseHigh,
    );
    const bits = roundPack(resultLow, resultHigh);
    bad = v128.or(bad, v128.and(i16x8.gt_s(v128.and(bits, magnitude), i16x8.splat(0x7f7f)), valid));
    const to = out + offset;
    if (count - j >= 8) {
      v128.store(to, bits);
    } else {
      // The last, partial group: lanes past the end belong to someone else (another block, another tensor).
      for (let lane = 0; lane < count - j; lane++)
        store<u16>(to + ((lane as usize) << 1), bitsLane(bits, lane));
    }
  }
  v128.store(state + AGREED0, agreedA);
  v128.store(state + AGREED1, agreedB);
  v128.store(state + CONFLICTS, conflicts);
  addLanes16(state + KEPT0, keptA);
  addLanes16(state + KEPT1, keptB);
  addLanes16(state + NONZERO0, nonzeroA);
  addLanes16(state + NONZERO1, nonzeroB);
  store<i32>(state + QUOTA0, quotaA);
  store<i32>(state + QUOTA1, quotaB);
  return v128.any_true(bad) ? 1 : 0;
}

/** All-ones lanes where a and c are nonzero with opposite signs. */
function oppositeSigns(a: v128, c: v128): v128 {
  const zero = f32x4.splat(0);
  return v128.or(
    v128.and(f32x4.gt(a, zero), f32x4.lt(c, zero)),
    v128.and(f32x4.lt(a, zero), f32x4.gt(c, zero)),
  );
}

/** All-ones lanes where a is nonzero with the elected sign. */
function agrees(a: v128, electNegative: v128): v128 {
  const zero = f32x4.splat(0);
  return v128.bitselect(f32x4.lt(a, zero), f32x4.gt(a, zero), electNegative);
}

/** R(b + R(λ · R(R(t) / d))) before the last rounding, t the sum of the agreeing a and c. */
function pairOutput(
  a: v128,
  c: v128,
  agreeA: v128,
  agreeC: v128,
  normalize: bool,
  divisor0: v128,
  divisor1: v128,
  divisor2: v128,
  divisor3: v128,
  lambda: f32,
  scale: v128,
  base: v128,
): v128 {
  // Masked terms are +0 or nonzero, so their sum is the generic kernel's 0 + a + c, signed zeros included.
  let u = f32x4.add(v128.and(a, agreeA), v128.and(c, agreeC));
  if (normalize) {
    const d = v128.bitselect(
      v128.bitselect(divisor3, divisor1, agreeC),
      v128.bitselect(divisor2, divisor0, agreeC),
      agreeA,
    );
    u = f32x4.div(roundValue(u), d);
  }
  if (lambda !== 1) u = f32x4.mul(roundValue(u), scale);
  return f32x4.add(base, roundValue(u));
}

/** Lane `lane` (0..6) of eight u16 lanes. */
function bitsLane(bits: v128, lane: i32): u16 {
  switch (lane) {
    case 0:
      return i16x8.extract_lane_u(bits, 0);
    case 1:
      return i16x8.extract_lane_u(bits, 1);
    case 2:
      return i16x8.extract_lane_u(bits, 2);
    case 3:
      return i16x8.extract_lane_u(bits, 3);
    case 4:
      return i16x8.extract_lane_u(bits, 4);
    case 5:
      return i16x8.extract_lane_u(bits, 5);
    default:
      return i16x8.extract_lane_u(bits, 6);
  }
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

/**
 * scan() for two models at once, sharing the base's loads: model 0's keys go to the four histograms at hist0,
 * model 1's to those at hist1.
 */
export function scanPair(x0: usize, x1: usize, base: usize, count: i32, hist0: usize, hist1: usize): void {
  const magnitude = i16x8.splat(0x7fff);
  const full = count & ~7;
  for (let j = 0; j < full; j += 8) {
    const offset = (j as usize) << 1;
    const b = v128.load(base + offset);
    const baseLow = low4(b);
    const baseHigh = high4(b);
    const keys0 = v128.and(deltaBits8(v128.load(x0 + offset), baseLow, baseHigh), magnitude);
    const keys1 = v128.and(deltaBits8(v128.load(x1 + offset), baseLow, baseHigh), magnitude);
    bumpEight(hist0, keys0);
    bumpEight(hist1, keys1);
  }
  if (full < count) {
    scan(x0 + ((full as usize) << 1), base + ((full as usize) << 1), count - full, hist0);
    scan(x1 + ((full as usize) << 1), base + ((full as usize) << 1), count - full, hist1);
  }
}

/** Adds scan()'s last three histograms (at hist + 2^17, …) into the first. */
export function foldHistograms(hist: usize): void {
  for (let at: usize = 0; at < HIST_BYTES; at += 16) {
    const sum = i32x4.add(
      i32x4.add(v128.load(hist + at), v128.load(hist + HIST_BYTES + at)),
      i32x4.add(v128.load(hist + 2 * HIST_BYTES + at), v128.load(hist + 3 * HIST_BYTES + at)),
    );
    v128.store(hist + at, sum);
  }
}
