/**
 * The fused fast path of kernels/gta.ts for the common case: mergekit arithmetic in bf16 on bf16 inputs and
 * output, magnitude trimming (TIES) or none (task arithmetic), no rescale. The arithmetic runs in
 * WebAssembly SIMD (`assembly/gta-bf16.ts`, built to dist/wasm by `pnpm build`), four elements a step; this
 * module lays out its memory, copies one chunk of each input in, calls the kernels and copies the result out.
 * Per chunk: δ = R(X − B) per model, the exact-k keep test on δ's magnitude and R(w·δ), then the weighted
 * vote and disjoint sum, then R(b + R(λ·R(R(t)/D))).
 *
 * It computes exactly what the generic kernel computes (the tests compare output bits and counts; sums of
 * squares agree to rounding); anything it does not cover (NaN or infinite values, other dtypes or options)
 * goes to the generic one.
 */
import { readFileSync } from "node:fs";
import { roundToBf16InPlace } from "@lethe/core";
import type { BlockSelection, BlockStats, GtaInputs, GtaSpec } from "./gta.js";
import { CHUNK, emptyStats } from "./gta.js";

interface SimdKernels {
  memory: WebAssembly.Memory;
  dataStart(): number;
  scan(x: number, base: number, count: number, hist: number): number;
  foldHistograms(hist: number): void;
  trimWeight(
    x: number,
    base: number,
    count: number,
    weight: number,
    cut: number,
    quota: number,
    wd: number,
    sums: number,
  ): number;
  voteFinish(
    wd: number,
    stride: number,
    n: number,
    count: number,
    consensus: number,
    normalize: number,
    divisors: number,
    lambda: number,
    base: number,
    out: number,
    tally: number,
  ): number;
}

const WASM_FILE = new URL("../../dist/wasm/gta-bf16.wasm", import.meta.url);

/** One instance per thread (each worker has its own), compiled on first use. */
let simd: SimdKernels | null = null;
function kernels(): SimdKernels {
  if (!simd) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(WASM_FILE);
    } catch (err) {
      throw new Error(
        `the merge kernel ${WASM_FILE.pathname} is missing: build it with \`pnpm build\` (${(err as Error).message})`,
      );
    }
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: {
        abort: () => {
          throw new Error("internal: the merge kernel aborted");
        },
      },
    });
    simd = instance.exports as unknown as SimdKernels;
  }
  return simd;
}

const HIST_BYTES = (1 << 15) * 4;
/** scan() fills two interleaved histograms per model. */
const HIST_PAIR_BYTES = 2 * HIST_BYTES;

/** Byte offsets of the buffers in the module's memory, for `models` inputs. */
interface Layout {
  base: number;
  xs: number[];
  out: number;
  wd: number;
  /** Bytes from one model's row of weighted deltas to the next. */
  wdStride: number;
  divisors: number;
  hists: number;
  sums: number;
  tally: number;
}

function layout(k: SimdKernels, models: number): Layout {
  // CHUNK is read here, not at module load: gta.ts imports this module, so its constants are not yet set then.
  const bf16Chunk = CHUNK * 2;
  const f32Chunk = CHUNK * 4;
  let at = k.dataStart();
  const take = (bytes: number) => {
    const offset = at;
    at += (bytes + 15) & ~15;
    return offset;
  };
  const l: Layout = {
    base: take(bf16Chunk),
    xs: Array.from({ length: models }, () => take(bf16Chunk)),
    out: take(bf16Chunk),
    wd: take(f32Chunk * models),
    wdStride: f32Chunk,
    divisors: take(4 << models),
    hists: take(HIST_PAIR_BYTES * models),
    sums: take(48),
    tally: take(16 * (models + 1)),
  };
  const pages = Math.ceil((at - k.memory.buffer.byteLength) / 65536);
  if (pages > 0) k.memory.grow(pages);
  return l;
}

function u16(bytes: Uint8Array): Uint16Array {
  return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

/** Copies elements [c, c + count) of a bf16 tensor to `offset`, zeroing the rest of the last group of four. */
function copyIn(memory: Uint16Array, offset: number, src: Uint16Array, c: number, count: number): void {
  const at = offset >>> 1;
  memory.set(src.subarray(c, c + count), at);
  memory.fill(0, at + count, at + ((count + 3) & ~3));
}

const NAN = 2;

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
  const k = kernels();
  const l = layout(k, which.length);
  const memory = new Uint16Array(k.memory.buffer);
  new Uint32Array(k.memory.buffer, l.hists, (HIST_PAIR_BYTES / 4) * which.length).fill(0);
  const base = u16(inputs.base!.bytes);
  const xs = which.map((m) => u16(inputs.models[m]!.bytes));
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    copyIn(memory, l.base, base, c, count);
    for (let w = 0; w < which.length; w++) {
      copyIn(memory, l.xs[w]!, xs[w]!, c, count);
      if (k.scan(l.xs[w]!, l.base, count, l.hists + w * HIST_PAIR_BYTES) & NAN) return null;
    }
  }
  return which.map((_, w) => {
    const hist = l.hists + w * HIST_PAIR_BYTES;
    k.foldHistograms(hist);
    return new Uint32Array(k.memory.buffer.slice(hist, hist + HIST_BYTES));
  });
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
  const k = kernels();
  const l = layout(k, n);
  const memory = new Uint16Array(k.memory.buffer);
  const f64 = new Float64Array(k.memory.buffer);
  const i32 = new Int32Array(k.memory.buffer);
  new Float32Array(k.memory.buffer, l.divisors, 1 << n).set(divisorTableBf16(spec));
  i32.fill(0, l.tally / 4, l.tally / 4 + 4 * (n + 1));
  const base = u16(inputs.base!.bytes);
  const xs = inputs.models.map((m) => u16(m.bytes));
  const outBits = u16(out);
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

  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    copyIn(memory, l.base, base, c, count);
    for (let i = 0; i < n; i++) {
      copyIn(memory, l.xs[i]!, xs[i]!, c, count);
      f64.fill(0, sums, sums + 4);
      quotas[i] = k.trimWeight(l.xs[i]!, l.base, count, weights[i]!, cuts[i]!, quotas[i]!, wd(i), l.sums);
      if (i32[sums * 2 + 8] !== 0) return null;
      stats.kept[i]! += f64[sums]!;
      stats.keptNonzero[i]! += f64[sums + 1]!;
      stats.sqBefore[i]! += f64[sums + 2]!;
      stats.sqAfter[i]! += f64[sums + 3]!;
    }
    const bad = k.voteFinish(
      l.wd,
      l.wdStride,
      n,
      count,
      consensus,
      normalize,
      l.divisors,
      lambda,
      l.base,
      l.out,
      l.tally,
    );
    if (bad !== 0) return null;
    outBits.set(memory.subarray(l.out >>> 1, (l.out >>> 1) + count), c);
  }
  const lanes = (slot: number) => {
    const at = l.tally / 4 + 4 * slot;
    return i32[at]! + i32[at + 1]! + i32[at + 2]! + i32[at + 3]!;
  };
  for (let i = 0; i < n; i++) stats.agreed[i] = lanes(i);
  stats.conflicts = lanes(n);
  return stats;
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
