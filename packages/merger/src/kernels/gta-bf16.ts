/**
 * A fused fast path of kernels/gta.ts for the common case: mergekit arithmetic in bf16 on bf16 inputs and
 * output, magnitude trimming (TIES) or none (task arithmetic), no rescale. One pass over each chunk of a
 * block does δ = bf16(X − B) (a table lookup when X and B share sign and exponent), then the exact-k keep
 * test on δ's 15-bit magnitude, the weighted vote and the disjoint mean, each a simple loop over the chunk,
 * with integer round-to-nearest-even on f32 bit patterns and bf16 values read back from a 65536-entry
 * table. A model's weighted delta R(w·δ) depends only on δ's 16 bits, so it is a table lookup too.
 *
 * It computes exactly what the generic kernel computes (the tests compare them bit for bit, statistics
 * included); anything it does not cover (NaN deltas, other dtypes or options) goes to the generic one.
 */
import { bf16ToF32, roundToBf16InPlace } from "@lethe/core";
import type { BlockSelection, BlockStats, GtaInputs, GtaSpec } from "./gta.js";
import { CHUNK, emptyStats } from "./gta.js";

/** bf16 bits → value, as f32. */
let valueTable: Float32Array | null = null;
function values(): Float32Array {
  if (!valueTable) {
    const bits = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) bits[i] = i;
    valueTable = bf16ToF32(bits);
  }
  return valueTable;
}

/** R(w·δ) for every bf16 pattern δ, for one weight (cached: a sweep keeps its weights). */
const weightedTables = new Map<number, Float32Array>();
function weightedTable(weight: number): Float32Array {
  let table = weightedTables.get(weight);
  if (!table) {
    const v = values();
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = weight * v[h]!;
    roundToBf16InPlace(table);
    if (weightedTables.size > 64) weightedTables.clear();
    weightedTables.set(weight, table);
  }
  return table;
}

function u16(bytes: Uint8Array): Uint16Array {
  return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

/**
 * bf16 bits of X − B when X and B have the same sign and exponent, indexed by that sign and exponent
 * (9 bits) and the difference of the mantissa fields (8 bits, two's complement). Such a difference is
 * a ≤ 7-bit integer times the exponent's unit, exact in bf16, so no rounding is involved and any pair with
 * those fields gives the same bits. Entries for exponent 255 (Inf/NaN inputs) are never used.
 */
let sameExponentTable: Uint16Array | null = null;
function sameExponentDeltas(): Uint16Array {
  if (!sameExponentTable) {
    const v = values();
    const table = new Uint16Array(1 << 17);
    for (let se = 0; se < 512; se++) {
      for (let d = -127; d <= 127; d++) {
        const mb = d < 0 ? -d : 0;
        one[0] = v[(se << 7) | (mb + d)]! - v[(se << 7) | mb]!;
        const u = oneBits[0]!;
        table[(se << 8) | (d & 0xff)] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
      }
    }
    sameExponentTable = table;
  }
  return sameExponentTable;
}

const one = new Float32Array(1);
const oneBits = new Uint32Array(one.buffer);

/** Flags from deltasBf16: some f32 X − B was NaN or infinite; some was NaN. */
const NON_FINITE = 1;
const NAN = 2;

/**
 * h[j] = the bf16 bits of δ = R(X − B) for elements [c, c + count): the f32 difference rounded to
 * nearest even, or a table lookup when X and B share sign and exponent (the usual case for a fine-tune).
 */
function deltasBf16(
  x: Uint16Array,
  base: Uint16Array,
  c: number,
  count: number,
  v: Float32Array,
  same: Uint16Array,
  h: Uint16Array,
): number {
  let flags = 0;
  for (let j = 0; j < count; j++) {
    const a = x[c + j]!;
    const b = base[c + j]!;
    if (((a ^ b) & 0xff80) === 0) {
      flags |= (a & 0x7f80) === 0x7f80 ? NON_FINITE | NAN : 0; // Inf − Inf, or a NaN: NaN
      h[j] = same[((a >>> 7) << 8) | ((a - b) & 0xff)]!;
    } else {
      one[0] = v[a]! - v[b]!;
      const u = oneBits[0]!;
      const m = u & 0x7fffffff;
      flags |= (m >= 0x7f800000 ? NON_FINITE : 0) | (m > 0x7f800000 ? NAN : 0);
      h[j] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }
  }
  return flags;
}

/** Whether the fast path computes this block exactly as the generic kernel would. */
export function fastPathApplies(
  spec: GtaSpec,
  inputs: GtaInputs,
  selections?: readonly BlockSelection[],
  scales?: readonly number[],
): boolean {
  return (
    spec.working === "BF16" &&
    spec.arithmetic === "per-op" &&
    !spec.inputsAreDeltas &&
    spec.addBase &&
    inputs.base?.dtype === "BF16" &&
    inputs.models.every((m) => m.dtype === "BF16") &&
    (selections === undefined ||
      (spec.outDtype === "BF16" &&
        spec.vote === "weighted" &&
        spec.zeroVote === "positive" &&
        spec.divisor === "weights" &&
        spec.models.length <= 16 &&
        selections.every((s) => s.kind === "top" || s.kind === "all" || s.kind === "none") &&
        (scales ?? []).every((s) => s === 1)))
  );
}

/**
 * Histograms of |δ| high bits (the bf16 magnitude) for the models in `which`. Returns null when a NaN
 * delta appears (the generic kernel orders NaN payloads exactly).
 */
export function scanMagnitudesBf16(
  _spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  which: readonly number[],
): Uint32Array[] | null {
  const v = values();
  const same = sameExponentDeltas();
  const base = u16(inputs.base!.bytes);
  const { deltas } = scratchFor(0);
  const hists = which.map(() => new Uint32Array(1 << 15));
  for (let w = 0; w < which.length; w++) {
    const x = u16(inputs.models[which[w]!]!.bytes);
    const hist = hists[w]!;
    for (let c = start; c < end; c += CHUNK) {
      const count = Math.min(CHUNK, end - c);
      if (deltasBf16(x, base, c, count, v, same, deltas) & NAN) return null;
      for (let j = 0; j < count; j++) hist[deltas[j]! & 0x7fff]!++;
    }
  }
  return hists;
}

/** Per-chunk working memory, reused across blocks (a worker runs one block at a time). */
interface ChunkScratch {
  /** bf16 bits of one model's δ. */
  deltas: Uint16Array;
  /** f32 results whose bits the next step rounds: t through the merge steps. */
  t: Float32Array;
  tBits: Uint32Array;
  /** Agreement pattern of each element (bit i: model i agrees with the vote). */
  pattern: Uint16Array;
  /** Δ_i = R(w_i·δ̂_i) of the chunk, per model. */
  weighted: Float32Array[];
}

let chunkScratch: ChunkScratch | null = null;
function scratchFor(n: number): ChunkScratch {
  if (!chunkScratch) {
    const t = new Float32Array(CHUNK);
    chunkScratch = {
      deltas: new Uint16Array(CHUNK),
      t,
      tBits: new Uint32Array(t.buffer),
      pattern: new Uint16Array(CHUNK),
      weighted: [],
    };
  }
  while (chunkScratch.weighted.length < n) chunkScratch.weighted.push(new Float32Array(CHUNK));
  return chunkScratch;
}

/**
 * The merge of elements [start, end) into `out` (bf16). Returns null, having written nothing reliable,
 * when it meets a NaN or infinite value (the generic kernel then redoes the block).
 *
 * Each step is a loop over a chunk: f32 results are stored in `t` and rounded to bf16 from their bits by
 * the next loop, which reads the rounded value back from the bf16 value table. Any non-finite
 * intermediate makes the output non-finite, so one flag per chunk is enough to give up.
 */
export function mergeBlockBf16(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  selections: readonly BlockSelection[],
  out: Uint8Array,
): BlockStats | null {
  const n = spec.models.length;
  const v = values();
  const base = u16(inputs.base!.bytes);
  const xs = inputs.models.map((m) => u16(m.bytes));
  const outBits = u16(out);
  const tables = spec.models.map((m) => weightedTable(m.weight));
  const consensus = spec.consensus === "sum";
  const divisors = divisorTableBf16(spec);
  const lambda = Math.fround(spec.lambda);
  const normalize = spec.normalize;
  const stats = emptyStats(n);
  // Keep rule per model: key > cut, or key == cut while the block's tie quota lasts; "all": cut -1.
  const cuts = selections.map((s) => (s.kind === "top" ? s.key : s.kind === "all" ? -1 : 0x7fffffff));
  const quotas = selections.map((s) => (s.kind === "top" ? s.quota : 0));
  const { deltas, t, tBits, pattern, weighted } = scratchFor(n);
  const same = sameExponentDeltas();
  const sums = new Float64Array(4);
  const tally = new Float64Array(n + 1); // agreed per model, then conflicts

  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    // Per model: δ = bf16(X − B) by RNE on the f32 bits, the keep test on its magnitude, Δ from the table.
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      if (deltasBf16(x, base, c, count, v, same, deltas) & NON_FINITE) return null;
      const q = deltaPass(deltas, count, v, tables[i]!, weighted[i]!, cuts[i]!, quotas[i]!, sums);
      quotas[i] = q;
      stats.kept[i]! += sums[0]!;
      stats.keptNonzero[i]! += sums[1]!;
      stats.sqBefore[i]! += sums[2]!;
      stats.sqAfter[i]! += sums[3]!;
    }
    // The vote and the disjoint mean, then t = R(t); t = R(t / D); t = R(λ·t); out = R(b + t).
    if (n === 2) votePair(weighted[0]!, weighted[1]!, t, pattern, count, consensus, tally);
    else voteMany(weighted, n, t, pattern, count, consensus, tally);
    let bad = 0;
    if (normalize) bad |= roundThenDivide(t, tBits, pattern, count, v, divisors);
    if (lambda !== 1) bad |= roundThenScale(t, tBits, count, v, lambda);
    bad |= roundThenAdd(t, tBits, count, v, base, c);
    bad |= roundOut(tBits, count, outBits, c);
    if (bad !== 0) return null;
  }
  for (let i = 0; i < n; i++) stats.agreed[i] = tally[i]!;
  stats.conflicts = tally[n]!;
  return stats;
}

/** 1 when an f32 bit pattern is NaN or infinite. */
function nonFinite(u: number): number {
  return (u & 0x7fffffff) >= 0x7f800000 ? 1 : 0;
}

/** t = R(t) / D[pattern]. Returns 1 if some t was not finite. */
function roundThenDivide(
  t: Float32Array,
  tBits: Uint32Array,
  pattern: Uint16Array,
  count: number,
  v: Float32Array,
  divisors: Float64Array,
): number {
  let bad = 0;
  for (let j = 0; j < count; j++) {
    const u = tBits[j]!;
    bad |= nonFinite(u);
    t[j] = v[((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff]! / divisors[pattern[j]!]!;
  }
  return bad;
}

/** t = R(t) · λ. Returns 1 if some t was not finite. */
function roundThenScale(
  t: Float32Array,
  tBits: Uint32Array,
  count: number,
  v: Float32Array,
  lambda: number,
): number {
  let bad = 0;
  for (let j = 0; j < count; j++) {
    const u = tBits[j]!;
    bad |= nonFinite(u);
    t[j] = v[((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff]! * lambda;
  }
  return bad;
}

/** t = b + R(t). Returns 1 if some t was not finite. */
function roundThenAdd(
  t: Float32Array,
  tBits: Uint32Array,
  count: number,
  v: Float32Array,
  base: Uint16Array,
  c: number,
): number {
  let bad = 0;
  for (let j = 0; j < count; j++) {
    const u = tBits[j]!;
    bad |= nonFinite(u);
    t[j] = v[base[c + j]!]! + v[((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff]!;
  }
  return bad;
}

/** out = R(t) as bf16 bits. Returns 1 if some t was not finite. */
function roundOut(tBits: Uint32Array, count: number, outBits: Uint16Array, c: number): number {
  let bad = 0;
  for (let j = 0; j < count; j++) {
    const u = tBits[j]!;
    bad |= nonFinite(u);
    outBits[c + j] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return bad;
}

/** Two models (the usual case), unrolled: t = Σ of the agreeing Δ (f32), and the agreement pattern. */
function votePair(
  w0: Float32Array,
  w1: Float32Array,
  t: Float32Array,
  pattern: Uint16Array,
  count: number,
  consensus: boolean,
  tally: Float64Array,
): void {
  let agreed0 = 0;
  let agreed1 = 0;
  let conflicts = 0;
  if (consensus) {
    for (let j = 0; j < count; j++) {
      const a = w0[j]!;
      const b = w1[j]!;
      // Branch-free (the signs are data, a branch would mispredict half the time): m = agrees with the vote.
      const sign = 1 - 2 * +(Math.fround(a + b) < 0); // sum >= 0 elects +1
      const m0 = +(a * sign > 0);
      const m1 = +(b * sign > 0);
      conflicts += +(a * b < 0);
      t[j] = 0 + a * m0 + b * m1; // from +0, as the generic sum: a -0 term cannot make -0
      pattern[j] = m0 | (m1 << 1);
      agreed0 += m0;
      agreed1 += m1;
    }
  } else {
    for (let j = 0; j < count; j++) {
      const a = w0[j]!;
      const b = w1[j]!;
      t[j] = 0 + a + b;
      pattern[j] = 0;
      agreed0 += +(a !== 0);
      agreed1 += +(b !== 0);
    }
  }
  tally[0]! += agreed0;
  tally[1]! += agreed1;
  tally[2]! += conflicts;
}

/** Any number of models: t = Σ of the agreeing Δ (f32), and the agreement pattern. */
function voteMany(
  weighted: readonly Float32Array[],
  n: number,
  t: Float32Array,
  pattern: Uint16Array,
  count: number,
  consensus: boolean,
  tally: Float64Array,
): void {
  for (let j = 0; j < count; j++) {
    let sum = 0;
    let p = 0;
    if (consensus) {
      let votes = 0;
      let pos = false;
      let neg = false;
      for (let i = 0; i < n; i++) {
        const dw = weighted[i]![j]!;
        votes = Math.fround(votes + dw);
        if (dw > 0) pos = true;
        else if (dw < 0) neg = true;
      }
      if (pos && neg) tally[n]!++;
      const positive = !(votes < 0); // mergekit: sum >= 0 elects +1 (NaN cannot occur here)
      for (let i = 0; i < n; i++) {
        const dw = weighted[i]![j]!;
        if (positive ? dw > 0 : dw < 0) {
          sum = Math.fround(sum + dw);
          p |= 1 << i;
          tally[i]!++;
        }
      }
    } else {
      for (let i = 0; i < n; i++) {
        const dw = weighted[i]![j]!;
        sum = Math.fround(sum + dw);
        if (dw !== 0) tally[i]!++;
      }
    }
    t[j] = sum;
    pattern[j] = p;
  }
}

/**
 * One model over one chunk, δ as bf16 bits in `deltas`: writes Δ = R(w·δ̂) into `wd`;
 * sums = [kept, kept nonzero, Σδ², Σδ̂²]. Returns the tie quota left.
 */
function deltaPass(
  deltas: Uint16Array,
  count: number,
  v: Float32Array,
  table: Float32Array,
  wd: Float32Array,
  cut: number,
  quota: number,
  sums: Float64Array,
): number {
  let kept = 0;
  let nonzero = 0;
  let sqBefore = 0;
  let sqAfter = 0;
  for (let j = 0; j < count; j++) {
    const h = deltas[j]!;
    const key = (h & 0x7fff) << 16; // |δ| as f32 bits: the key the cuts are expressed in
    const d = v[h]!;
    // Selects, not branches: which side of the cut an element falls is data-dependent.
    const tie = +(key === cut) & +(quota > 0);
    quota -= tie;
    const keep = +(key > cut) | tie;
    const square = d * d;
    sqBefore += square;
    sqAfter += square * keep;
    kept += keep;
    nonzero += keep & +(key !== 0);
    wd[j] = table[h]! * keep; // R(w·δ) of a kept element, ±0 otherwise
  }
  sums[0] = kept;
  sums[1] = nonzero;
  sums[2] = sqBefore;
  sums[3] = sqAfter;
  return quota;
}

/** mergekit's divisor R(Σ w·M) per agreement pattern (0 → 1), or R(Σ w) (|·| < 1e-8 → 1) without a vote. */
function divisorTableBf16(spec: GtaSpec): Float64Array {
  const weights = spec.models.map((m) => m.weight);
  const round = (x: number) => {
    const a = new Float32Array([x]);
    roundToBf16InPlace(a);
    return a[0]!;
  };
  if (spec.consensus === null) {
    let sum = 0;
    for (const w of weights) sum = Math.fround(sum + w);
    const d = round(sum);
    return Float64Array.of(Math.abs(d) < 1e-8 ? 1 : d);
  }
  const table = new Float64Array(1 << weights.length);
  for (let pattern = 0; pattern < table.length; pattern++) {
    let sum = 0;
    for (let i = 0; i < weights.length; i++) if (pattern & (1 << i)) sum = Math.fround(sum + weights[i]!);
    const d = round(sum);
    table[pattern] = d === 0 ? 1 : d;
  }
  return table;
}
