/**
 * The fused fast path of kernels/gta.ts for the common case: mergekit arithmetic in bf16 on bf16 inputs and
 * output, magnitude trimming (TIES) or none (task arithmetic), no rescale. The arithmetic runs in
 * WebAssembly SIMD (`assembly/gta-bf16.ts`), a chunk per call, on the tensors in place when they live in the
 * worker pool's arena and on copies otherwise (kernels/simd.ts).
 * Per chunk: δ = R(X − B) per model, the exact-k keep test on δ's magnitude and R(w·δ), then the weighted
 * vote and disjoint sum, then R(b + R(λ·R(R(t)/D))). Two-model TIES (the SemEval case) does all of it in one
 * kernel pass (mergePair); other cases trim each model, then vote (trimWeight, voteFinish).
 *
 * It computes exactly what the generic kernel computes (the tests compare output bits and counts; sums of
 * squares agree to rounding); anything it does not cover (NaN or infinite values, other dtypes or options)
 * goes to the generic one.
 */
import { roundToBf16InPlace } from "@lethe/core";
import type { RawTensor } from "./decode.js";
import type { BlockSelection, BlockStats, GtaInputs, GtaSpec } from "./gta.js";
import { emptyStats } from "./gta.js";
import { HIST_BYTES, HIST_SET_BYTES, KernelCall, PAIR_STATE, SIMD_CHUNK, SIMD_MAX_MODELS } from "./simd.js";

/** bf16 magnitude keys of ±Inf, and above it of NaN. */
export const INFINITE_KEY = 0x7f80;

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
    spec.models.length <= SIMD_MAX_MODELS &&
    (selections === undefined ||
      (spec.outDtype === "BF16" &&
        spec.vote === "weighted" &&
        spec.zeroVote === "positive" &&
        spec.divisor === "weights" &&
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
  const call = KernelCall.for(
    [inputs.base!.bytes, ...which.map((m) => inputs.models[m]!.bytes)],
    which.length,
  );
  const { k, l } = call;
  call.i32.fill(0, l.hists / 4, (l.hists + HIST_SET_BYTES * which.length) / 4);
  for (let c = start; c < end; c += SIMD_CHUNK) {
    const count = Math.min(SIMD_CHUNK, end - c);
    const base = call.input(inputs.base!.bytes, c, count, l.base);
    const x = (w: number) => call.input(inputs.models[which[w]!]!.bytes, c, count, l.xs[w]!);
    const hist = (w: number) => l.hists + w * HIST_SET_BYTES;
    // Two models a pass where there are two: they share the base's loads.
    let w = 0;
    for (; w + 1 < which.length; w += 2) k.scanPair(x(w), x(w + 1), base, count, hist(w), hist(w + 1));
    if (w < which.length) k.scan(x(w), base, count, hist(w));
  }
  const hists = which.map((_, w) => {
    const hist = l.hists + w * HIST_SET_BYTES;
    k.foldHistograms(hist);
    // A plain copy (not a slice of the shared memory, which would be shared too): it moves to the caller.
    return new Uint32Array(call.i32.subarray(hist / 4, (hist + HIST_BYTES) / 4));
  });
  return hists.some((h) => h.subarray(INFINITE_KEY + 1).some((n) => n > 0)) ? null : hists;
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
  const d = divisorTableBf16(spec);
  if (n === 2 && spec.consensus === "sum" && spec.squaresFromHistograms && pairKernelApplies(spec, d))
    return mergePairBf16(spec, inputs, start, end, selections, d, out);
  const call = KernelCall.for([inputs.base!.bytes, ...inputs.models.map((m) => m.bytes), out], n);
  const { k, l, f64, i32 } = call;
  new Float32Array(i32.buffer, l.divisors, 1 << n).set(d);
  // Two models with a vote (TIES, the usual case) have a kernel of their own.
  const pair = n === 2 && spec.consensus === "sum";
  i32.fill(0, l.tally / 4, l.tally / 4 + 4 * (n + 1));
  const weights = spec.models.map((m) => m.weight);
  const consensus = spec.consensus === "sum" ? 1 : 0;
  const normalize = spec.normalize ? 1 : 0;
  const lambda = Math.fround(spec.lambda);
  const stats = emptyStats(n);
  // Keep rule per model: key > cut, or key == cut while the block's tie quota lasts; "all": cut -1. The kernel
  // takes i32s: magnitude keys are at most 0x7fff0000, so a larger key (select nothing) becomes 0x7fffffff,
  // and a quota beyond any block's size is clamped.
  const cuts = selections.map((s) =>
    s.kind === "top" ? Math.min(s.key, 0x7fffffff) : s.kind === "all" ? -1 : 0x7fffffff,
  );
  const quotas = selections.map((s) => (s.kind === "top" ? Math.min(s.quota, 0x7fffffff) : 0));
  const sums = l.sums / 8;
  const wd = (i: number) => l.wd + i * l.wdStride;

  for (let c = start; c < end; c += SIMD_CHUNK) {
    const count = Math.min(SIMD_CHUNK, end - c);
    const base = call.input(inputs.base!.bytes, c, count, l.base);
    for (let i = 0; i < n; i++) {
      const x = call.input(inputs.models[i]!.bytes, c, count, l.xs[i]!);
      f64.fill(0, sums, sums + 4);
      quotas[i] = k.trimWeight(x, base, count, weights[i]!, cuts[i]!, quotas[i]!, wd(i), l.sums);
      if (i32[sums * 2 + 8] !== 0) return null;
      stats.kept[i]! += f64[sums]!;
      stats.keptNonzero[i]! += f64[sums + 1]!;
      stats.sqBefore[i]! += f64[sums + 2]!;
      stats.sqAfter[i]! += f64[sums + 3]!;
    }
    const at = call.output(out, c);
    const bad = pair
      ? k.votePairFinish(
          wd(0),
          wd(1),
          count,
          normalize,
          d[0]!,
          d[1]!,
          d[2]!,
          d[3]!,
          lambda,
          base,
          at,
          l.tally,
        )
      : k.voteFinish(l.wd, l.wdStride, n, count, consensus, normalize, l.divisors, lambda, base, at, l.tally);
    if (bad !== 0) return null;
    call.commit(out, c, count);
  }
  for (let i = 0; i < n; i++) stats.agreed[i] = sumLanes(i32, l.tally + 16 * i);
  stats.conflicts = sumLanes(i32, l.tally + 16 * n);
  return stats;
}

/** mergePair's preconditions beyond finite deltas: finite weights, λ and divisors. */
function pairKernelApplies(spec: GtaSpec, divisors: Float32Array): boolean {
  return (
    spec.models.every((m) => Number.isFinite(m.weight)) &&
    Number.isFinite(spec.lambda) &&
    divisors.every((x) => Number.isFinite(x))
  );
}

/**
 * TIES of two models in one kernel pass per chunk (mergePair): trim, weight, vote, divide and add in
 * registers. Σδ² is not summed here: the tensor takes it from its magnitude histograms
 * (spec.squaresFromHistograms), which also guarantee the kernel's precondition of no NaN or infinite δ.
 */
function mergePairBf16(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  selections: readonly BlockSelection[],
  d: Float32Array,
  out: Uint8Array,
): BlockStats | null {
  const [a, b] = inputs.models as [RawTensor, RawTensor];
  const call = KernelCall.for([inputs.base!.bytes, a.bytes, b.bytes, out], 2);
  const { k, l, i32 } = call;
  const state = l.state / 4;
  const [cut0, quota0] = pairCut(selections[0]!);
  const [cut1, quota1] = pairCut(selections[1]!);
  i32.fill(0, state, state + PAIR_STATE.quota[0]! / 4);
  i32[state + PAIR_STATE.quota[0]! / 4] = quota0;
  i32[state + PAIR_STATE.quota[1]! / 4] = quota1;
  const [w0, w1] = spec.models.map((m) => m.weight) as [number, number];
  const normalize = spec.normalize ? 1 : 0;
  const lambda = Math.fround(spec.lambda);
  for (let c = start; c < end; c += SIMD_CHUNK) {
    const count = Math.min(SIMD_CHUNK, end - c);
    const base = call.input(inputs.base!.bytes, c, count, l.base);
    const x0 = call.input(a.bytes, c, count, l.xs[0]!);
    const x1 = call.input(b.bytes, c, count, l.xs[1]!);
    const at = call.output(out, c);
    const bad = k.mergePair(
      x0,
      x1,
      base,
      count,
      w0,
      w1,
      cut0,
      cut1,
      normalize,
      d[0]!,
      d[1]!,
      d[2]!,
      d[3]!,
      lambda,
      at,
      l.state,
    );
    if (bad !== 0) return null;
    call.commit(out, c, count);
  }
  const int = (offset: number) => i32[(l.state + offset) / 4]!;
  const stats = emptyStats(2);
  for (const i of [0, 1]) {
    stats.kept[i] = int(PAIR_STATE.kept[i]!);
    stats.keptNonzero[i] = int(PAIR_STATE.nonzero[i]!);
    stats.agreed[i] = sumLanes(i32, l.state + PAIR_STATE.agreed[i]!);
  }
  stats.conflicts = sumLanes(i32, l.state + PAIR_STATE.conflicts);
  return stats;
}

/** The sum of the four i32 lanes of a kernel's count vector at byte offset `at`. */
function sumLanes(i32: Int32Array, at: number): number {
  const i = at / 4;
  return i32[i]! + i32[i + 1]! + i32[i + 2]! + i32[i + 3]!;
}

/**
 * A selection as mergePair's i16 cut on bf16 magnitude keys and its tie quota: keys are f32 bits with zero low
 * halves, so key > cut exactly when key >>> 16 > cut >>> 16, and ties exist only for a cut on the bf16 grid.
 */
function pairCut(s: BlockSelection): [cut: number, quota: number] {
  if (s.kind === "all" || (s.kind === "top" && s.key < 0)) return [-1, 0];
  if (s.kind !== "top" || s.key > 0x7fff0000) return [0x7fff, 0];
  return [s.key >>> 16, (s.key & 0xffff) === 0 ? Math.min(s.quota, 0x7fffffff) : 0];
}

/** The last divisor table, by weights and vote: every block of a tensor (and of most tensors) shares it. */
let divisorCache: { key: string; table: Float32Array } | null = null;

/** mergekit's divisor R(Σ w·M) per agreement pattern (0 → 1), or R(Σ w) (|·| < 1e-8 → 1) without a vote. */
function divisorTableBf16(spec: GtaSpec): Float32Array {
  const weights = spec.models.map((m) => m.weight);
  const key = `${spec.consensus}:${weights.join(",")}`;
  if (divisorCache?.key !== key) divisorCache = { key, table: buildDivisorTable(spec, weights) };
  return divisorCache.table;
}

function buildDivisorTable(spec: GtaSpec, weights: readonly number[]): Float32Array {
  const round = (x: number) => {
    const a = new Float32Array([x]);
    roundToBf16InPlace(a);
    return a[0]!;
  };
  if (spec.consensus === null) {
    let sum = 0;
    for (const w of weights) sum = Math.fround(sum + w);
    const d = round(sum);
    return Float32Array.of(Math.abs(d) < 1e-8 ? 1 : d);
  }
  const table = new Float32Array(1 << weights.length);
  for (let pattern = 0; pattern < table.length; pattern++) {
    let sum = 0;
    for (let i = 0; i < weights.length; i++) if (pattern & (1 << i)) sum = Math.fround(sum + weights[i]!);
    const d = round(sum);
    table[pattern] = d === 0 ? 1 : d;
  }
  return table;
}
