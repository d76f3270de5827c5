/**
 * A fused fast path of kernels/gta.ts for the common case: mergekit arithmetic in bf16 on bf16 inputs and
 * output, magnitude trimming (TIES) or none (task arithmetic), no rescale. One pass per element does
 * δ = bf16(X − B), the exact-k keep test on δ's 15-bit magnitude, the weighted vote and the disjoint
 * mean, all with integer round-to-nearest-even on f32 bit patterns and no function calls. A model's
 * weighted delta R(w·δ) depends only on δ's 16 bits, so it is a table lookup.
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
  const base = u16(inputs.base!.bytes);
  const f = new Float32Array(CHUNK);
  const fu = new Uint32Array(f.buffer);
  const hists = which.map(() => new Uint32Array(1 << 15));
  for (let w = 0; w < which.length; w++) {
    const x = u16(inputs.models[which[w]!]!.bytes);
    const hist = hists[w]!;
    for (let c = start; c < end; c += CHUNK) {
      const count = Math.min(CHUNK, end - c);
      for (let j = 0; j < count; j++) f[j] = v[x[c + j]!]! - v[base[c + j]!]!;
      for (let j = 0; j < count; j++) {
        const u = fu[j]!;
        if ((u & 0x7fffffff) > 0x7f800000) return null;
        hist[((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0x7fff]!++;
      }
    }
  }
  return hists;
}

/**
 * The merge of elements [start, end) into `out` (bf16). Returns null, having written nothing reliable,
 * when it meets a NaN or infinite value (the generic kernel then redoes the block).
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
  const baseValues = new Float32Array(CHUNK);
  const weighted = xs.map(() => new Float32Array(CHUNK)); // Δ_i = R(w_i·δ̂_i) of the chunk
  const scratch = new Float32Array(1);
  const bits = new Uint32Array(scratch.buffer);
  const sums = new Float64Array(4);
  const tally = new Float64Array(n + 1); // agreed per model, then conflicts

  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    for (let j = 0; j < count; j++) baseValues[j] = v[base[c + j]!]!;
    // Per model: δ = bf16(X − B) by RNE on the f32 bits, the keep test on its magnitude, Δ from the table.
    for (let i = 0; i < n; i++) {
      const q = deltaPass(
        xs[i]!,
        c,
        count,
        baseValues,
        v,
        tables[i]!,
        weighted[i]!,
        cuts[i]!,
        quotas[i]!,
        scratch,
        bits,
        sums,
      );
      if (q < 0) return null;
      quotas[i] = q;
      stats.kept[i]! += sums[0]!;
      stats.keptNonzero[i]! += sums[1]!;
      stats.sqBefore[i]! += sums[2]!;
      stats.sqAfter[i]! += sums[3]!;
    }
    // The vote and the disjoint mean, then t = R(t); t = R(t / D); t = R(λ·t); out = R(b + t).
    const ok =
      n === 2
        ? votePair(
            weighted[0]!,
            weighted[1]!,
            baseValues,
            outBits,
            c,
            count,
            consensus,
            divisors,
            normalize,
            lambda,
            scratch,
            bits,
            tally,
          )
        : voteMany(
            weighted,
            baseValues,
            outBits,
            c,
            count,
            consensus,
            divisors,
            normalize,
            lambda,
            scratch,
            bits,
            tally,
          );
    if (!ok) return null;
  }
  for (let i = 0; i < n; i++) stats.agreed[i] = tally[i]!;
  stats.conflicts = tally[n]!;
  return stats;
}

/** Two models (the usual case), unrolled. Returns false at a non-finite output. */
function votePair(
  w0: Float32Array,
  w1: Float32Array,
  baseValues: Float32Array,
  outBits: Uint16Array,
  c: number,
  count: number,
  consensus: boolean,
  divisors: Float64Array,
  normalize: boolean,
  lambda: number,
  scratch: Float32Array,
  bits: Uint32Array,
  tally: Float64Array,
): boolean {
  let agreed0 = 0;
  let agreed1 = 0;
  let conflicts = 0;
  for (let j = 0; j < count; j++) {
    const a = w0[j]!;
    const b = w1[j]!;
    // Branch-free (the signs are data, a branch would mispredict half the time): m = agrees with the vote.
    let t: number;
    let pattern: number;
    if (consensus) {
      const sign = 1 - 2 * +(Math.fround(a + b) < 0); // sum >= 0 elects +1
      const m0 = +(a * sign > 0);
      const m1 = +(b * sign > 0);
      conflicts += +(a * b < 0);
      t = Math.fround(0 + a * m0 + b * m1); // from +0, as the generic sum: a -0 term cannot make -0
      pattern = m0 | (m1 << 1);
      agreed0 += m0;
      agreed1 += m1;
    } else {
      t = Math.fround(0 + a + b);
      pattern = 0;
      agreed0 += +(a !== 0);
      agreed1 += +(b !== 0);
    }
    scratch[0] = t;
    let u = bits[0]!;
    bits[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    if (normalize) {
      scratch[0] = scratch[0]! / divisors[pattern]!;
      u = bits[0]!;
      bits[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    }
    if (lambda !== 1) {
      scratch[0] = scratch[0]! * lambda;
      u = bits[0]!;
      bits[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    }
    scratch[0] = baseValues[j]! + scratch[0]!;
    u = bits[0]!;
    if ((u & 0x7fffffff) >= 0x7f800000) return false;
    outBits[c + j] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  tally[0]! += agreed0;
  tally[1]! += agreed1;
  tally[2]! += conflicts;
  return true;
}

/** Any number of models. Returns false at a non-finite output. */
function voteMany(
  weighted: readonly Float32Array[],
  baseValues: Float32Array,
  outBits: Uint16Array,
  c: number,
  count: number,
  consensus: boolean,
  divisors: Float64Array,
  normalize: boolean,
  lambda: number,
  scratch: Float32Array,
  bits: Uint32Array,
  tally: Float64Array,
): boolean {
  const n = weighted.length;
  for (let j = 0; j < count; j++) {
    let t = 0;
    let pattern = 0;
    if (consensus) {
      let sum = 0;
      let pos = false;
      let neg = false;
      for (let i = 0; i < n; i++) {
        const dw = weighted[i]![j]!;
        sum = Math.fround(sum + dw);
        if (dw > 0) pos = true;
        else if (dw < 0) neg = true;
      }
      if (pos && neg) tally[n]!++;
      const positive = !(sum < 0); // mergekit: sum >= 0 elects +1 (NaN cannot occur here)
      for (let i = 0; i < n; i++) {
        const dw = weighted[i]![j]!;
        if (positive ? dw > 0 : dw < 0) {
          t = Math.fround(t + dw);
          pattern |= 1 << i;
          tally[i]!++;
        }
      }
    } else {
      for (let i = 0; i < n; i++) {
        const dw = weighted[i]![j]!;
        t = Math.fround(t + dw);
        if (dw !== 0) tally[i]!++;
      }
    }
    scratch[0] = t;
    let u = bits[0]!;
    bits[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    if (normalize) {
      scratch[0] = scratch[0]! / divisors[consensus ? pattern : 0]!;
      u = bits[0]!;
      bits[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    }
    if (lambda !== 1) {
      scratch[0] = scratch[0]! * lambda;
      u = bits[0]!;
      bits[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
    }
    scratch[0] = baseValues[j]! + scratch[0]!;
    u = bits[0]!;
    if ((u & 0x7fffffff) >= 0x7f800000) return false;
    outBits[c + j] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return true;
}

/**
 * One model over one chunk: writes Δ = R(w·δ̂) into `wd`; sums = [kept, kept nonzero, Σδ², Σδ̂²].
 * Returns the tie quota left, or -1 at a NaN or infinite δ.
 */
function deltaPass(
  x: Uint16Array,
  c: number,
  count: number,
  baseValues: Float32Array,
  v: Float32Array,
  table: Float32Array,
  wd: Float32Array,
  cut: number,
  quota: number,
  scratch: Float32Array,
  bits: Uint32Array,
  sums: Float64Array,
): number {
  let kept = 0;
  let nonzero = 0;
  let sqBefore = 0;
  let sqAfter = 0;
  for (let j = 0; j < count; j++) {
    scratch[0] = v[x[c + j]!]! - baseValues[j]!;
    const u = bits[0]!;
    if ((u & 0x7fffffff) >= 0x7f800000) return -1;
    const h = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
    const key = (h & 0x7fff) << 16; // |δ| as f32 bits: the key the cuts are expressed in
    const d = v[h]!;
    let keep = key > cut ? 1 : 0; // a select, not a branch: which side of the cut is data-dependent
    if (key === cut && quota > 0) {
      quota--;
      keep = 1;
    }
    const square = d * d;
    sqBefore += square;
    sqAfter += square * keep;
    kept += keep;
    nonzero += keep & (key !== 0 ? 1 : 0);
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
