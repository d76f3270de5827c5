/**
 * Generalized task arithmetic on one block of a tensor (mergekit `GTATask.execute`, merging.md §1.2), in
 * phases so a tensor can be split into blocks across threads and still get exactly-k trimming:
 *
 *   scanMagnitudes  histogram of |δ| keys per model (magnitude and breadcrumbs trimming)
 *   scanLowBits     second-level histogram inside the threshold bin, when values are not on the bf16 grid
 *   scanNorms       L1 norms before/after trimming (for `rescale`), and DELLA's per-row masks
 *   scanVotes       Σ sign(vote) over the tensor (the paper's tie-break for a vote of exactly 0)
 *   mergeBlock      trim → rescale → weight → elect → disjoint merge → add to base, written as output bytes
 *
 * Every phase recomputes δ = X − B from the inputs a chunk at a time (cheaper than storing it), with the
 * rounding of the semantics: after each op in W for mergekit, in f32 for paper/peft.
 */
import type { FloatDType } from "@lethe/core";
import type { Sparsification } from "../methods/types.js";
import { type RandomKey, randomWords, STREAM_DARE } from "../sparsify/random.js";
import { type Arithmetic, type Round, rounderFor, roundF32, type WorkingDType } from "../working-dtype.js";
import { type DecodableTensor, decodable, decodeRange, encodeRange, type RawTensor } from "./decode.js";
import { fastPathApplies, mergeBlockBf16, scanMagnitudesBf16 } from "./gta-bf16.js";

export const CHUNK = 8192;

export interface GtaModelSpec {
  /** The model's position in the config's `models` list: part of the random stream's identity. */
  index: number;
  /** The weight as the arithmetic sees it (already rounded to W in mergekit semantics). */
  weight: number;
}

export interface GtaSpec {
  tensor: string;
  numel: number;
  /** Rows × cols view for DELLA (1-D tensors are one row). */
  rows: number;
  cols: number;
  working: WorkingDType;
  arithmetic: Arithmetic;
  outDtype: FloatDType;
  sparsification: Sparsification | null;
  consensus: "sum" | null;
  vote: "weighted" | "unweighted";
  zeroVote: "positive" | "majority";
  divisor: "weights" | "count";
  normalize: boolean;
  lambda: number;
  /** The model tensors are task vectors already (LoRA factors, ΔW), not models to subtract the base from. */
  inputsAreDeltas: boolean;
  /** Output base + merged delta; otherwise the merged delta alone. */
  addBase: boolean;
  randomKey: RandomKey;
  models: GtaModelSpec[];
  /** Use the fused bf16 kernel where it applies (default). Tests turn it off to compare the two. */
  fastPath?: boolean;
  /**
   * Set by the tensor merge (engine/gta-tensor.ts) when every model's δ lies on the bf16 grid, is finite and
   * has a magnitude histogram over the whole tensor: then Σδ² before and after trimming follows from those
   * histograms, and mergeBlock may leave sqBefore and sqAfter at 0.
   */
  squaresFromHistograms?: boolean;
}

export interface GtaInputs {
  base: RawTensor | null;
  models: RawTensor[];
}

/** How one model's δ is trimmed within one block. */
export type BlockSelection =
  | { kind: "all" }
  | { kind: "none" }
  /** Keep the top of the ranking: key > cut.key, plus the block's first `quota` elements at cut.key. */
  | { kind: "top"; key: number; quota: number }
  /** Breadcrumbs: in the top `keep` but not in the top `drop` (the γ outliers). */
  | { kind: "band"; keepKey: number; keepQuota: number; dropKey: number; dropQuota: number }
  /** Bernoulli(p) from the counter-based generator. */
  | { kind: "random"; p: number }
  /** A precomputed keep mask over the whole tensor (DELLA), 1 = keep. */
  | { kind: "mask"; mask: Uint8Array };

export interface BlockStats {
  /** Per model: elements kept by trimming. */
  kept: number[];
  /** Per model: kept, nonzero, and on the elected side of the vote (all nonzero kept ones without a vote). */
  agreed: number[];
  /** Per model: kept and nonzero. */
  keptNonzero: number[];
  /** Per model: Σ δ² before trimming, and Σ δ̂² after trimming and rescaling. */
  sqBefore: number[];
  sqAfter: number[];
  /** Elements where the nonzero kept deltas do not all have the same sign. */
  conflicts: number;
}

/** Per-chunk working memory. */
export class Scratch {
  readonly base: Float32Array;
  readonly out: Float32Array;
  readonly deltas: Float32Array[];
  readonly deltaBits: Uint32Array[];
  readonly weighted: Float32Array[];
  readonly words: Uint32Array;
  readonly keep: Uint8Array;
  readonly base_: DecodableTensor | null;
  readonly models: DecodableTensor[];
  readonly round: Round;
  readonly roundW: Round;

  constructor(
    readonly spec: GtaSpec,
    inputs: GtaInputs,
    capacity = CHUNK,
  ) {
    const n = spec.models.length;
    this.base = new Float32Array(capacity);
    this.out = new Float32Array(capacity);
    this.words = new Uint32Array(capacity);
    this.keep = new Uint8Array(capacity);
    this.deltas = Array.from({ length: n }, () => new Float32Array(capacity));
    this.deltaBits = this.deltas.map((d) => new Uint32Array(d.buffer));
    this.weighted = Array.from({ length: n }, () => new Float32Array(capacity));
    this.base_ = inputs.base ? decodable(inputs.base, spec.working) : null;
    this.models = inputs.models.map((m) => decodable(m, spec.working));
    this.roundW = rounderFor(spec.working);
    this.round = spec.arithmetic === "per-op" ? this.roundW : roundF32;
  }

  /** b and δ_i for elements [start, start + count): δ = X − B rounded as the arithmetic says, one pass each. */
  loadDeltas(start: number, count: number): void {
    const { base } = this;
    if (this.base_) decodeRange(this.base_, start, count, base);
    else base.fill(0, 0, count);
    const round = this.round;
    for (let i = 0; i < this.models.length; i++) {
      const d = this.deltas[i]!;
      const src = this.models[i]!;
      if (this.spec.inputsAreDeltas) {
        decodeRange(src, start, count, d);
      } else if (src.u16) {
        const table = src.table!;
        const u16 = src.u16;
        for (let j = 0; j < count; j++) d[j] = round(table[u16[start + j]!]! - base[j]!);
      } else {
        decodeRange(src, start, count, d);
        for (let j = 0; j < count; j++) d[j] = round(d[j]! - base[j]!);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Phase 1: magnitude histograms

/** High-bin histograms (|δ| key >>> 16) of the models in `which`, over [start, end). */
export function scanMagnitudes(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  which: readonly number[],
): Uint32Array[] {
  if (spec.fastPath !== false && fastPathApplies(spec, inputs)) {
    const fast = scanMagnitudesBf16(spec, inputs, start, end, which);
    if (fast) return fast;
  }
  const s = new Scratch(spec, inputs);
  const hists = which.map(() => new Uint32Array(1 << 15));
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    s.loadDeltas(c, count);
    which.forEach((model, w) => {
      const bits = s.deltaBits[model]!;
      const hist = hists[w]!;
      for (let j = 0; j < count; j++) hist[(bits[j]! & 0x7fffffff) >>> 16]!++;
    });
  }
  return hists;
}

/** Low-16-bit histograms of the elements whose high bin is `bins[w]`, for model which[w]. */
export function scanLowBits(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  which: readonly { model: number; bin: number }[],
): Uint32Array[] {
  const s = new Scratch(spec, inputs);
  const hists = which.map(() => new Uint32Array(1 << 16));
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    s.loadDeltas(c, count);
    which.forEach(({ model, bin }, w) => {
      const bits = s.deltaBits[model]!;
      const hist = hists[w]!;
      for (let j = 0; j < count; j++) {
        const key = bits[j]! & 0x7fffffff;
        if (key >>> 16 === bin) hist[key & 0xffff]!++;
      }
    });
  }
  return hists;
}

// ---------------------------------------------------------------------------------------------------
// Trimming one chunk

/** Selection state carried across the chunks of a block (tie quotas are consumed in index order). */
class Trimmer {
  private keepLeft: number;
  private dropLeft: number;

  constructor(private readonly selection: BlockSelection) {
    this.keepLeft =
      selection.kind === "top" ? selection.quota : selection.kind === "band" ? selection.keepQuota : 0;
    this.dropLeft = selection.kind === "band" ? selection.dropQuota : 0;
  }

  /** keep[j] = 1 for kept elements of the chunk starting at flat index `start`. Returns how many were kept. */
  mark(
    bits: Uint32Array,
    start: number,
    count: number,
    keep: Uint8Array,
    model: GtaModelSpec,
    spec: GtaSpec,
    words: Uint32Array,
  ): number {
    const sel = this.selection;
    let kept = 0;
    switch (sel.kind) {
      case "all":
        keep.fill(1, 0, count);
        return count;
      case "none":
        keep.fill(0, 0, count);
        return 0;
      case "top": {
        const t = sel.key;
        for (let j = 0; j < count; j++) {
          const key = bits[j]! & 0x7fffffff;
          const k = key > t || (key === t && this.keepLeft-- > 0) ? 1 : 0;
          keep[j] = k;
          kept += k;
        }
        return kept;
      }
      case "band": {
        for (let j = 0; j < count; j++) {
          const key = bits[j]! & 0x7fffffff;
          const inKeep = key > sel.keepKey || (key === sel.keepKey && this.keepLeft-- > 0);
          const inDrop = key > sel.dropKey || (key === sel.dropKey && this.dropLeft-- > 0);
          const k = inKeep && !inDrop ? 1 : 0;
          keep[j] = k;
          kept += k;
        }
        return kept;
      }
      case "random": {
        randomWords(spec.randomKey, model.index, STREAM_DARE, start, count, words);
        const limit = sel.p * 4294967296;
        for (let j = 0; j < count; j++) {
          const k = words[j]! < limit ? 1 : 0;
          keep[j] = k;
          kept += k;
        }
        return kept;
      }
      case "mask": {
        for (let j = 0; j < count; j++) {
          const k = sel.mask[start + j]!;
          keep[j] = k;
          kept += k;
        }
        return kept;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Phase 3: norms for rescaling

export interface BlockNorms {
  /** Per model: Σ|δ| and Σ|δ̂| over the block. */
  l1Before: number[];
  l1After: number[];
}

export function scanNorms(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  selections: readonly BlockSelection[],
): BlockNorms {
  const s = new Scratch(spec, inputs);
  const n = spec.models.length;
  const trimmers = selections.map((sel) => new Trimmer(sel));
  const l1Before = new Array<number>(n).fill(0);
  const l1After = new Array<number>(n).fill(0);
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    s.loadDeltas(c, count);
    for (let i = 0; i < n; i++) {
      const d = s.deltas[i]!;
      trimmers[i]!.mark(s.deltaBits[i]!, c, count, s.keep, spec.models[i]!, spec, s.words);
      let before = 0;
      let after = 0;
      for (let j = 0; j < count; j++) {
        const a = Math.abs(d[j]!);
        before += a;
        if (s.keep[j]) after += a;
      }
      l1Before[i]! += before;
      l1After[i]! += after;
    }
  }
  return { l1Before, l1After };
}

// ---------------------------------------------------------------------------------------------------
// Applying trimming, rescaling and weights to one chunk

function trimmedChunk(
  s: Scratch,
  trimmers: readonly Trimmer[],
  scales: readonly number[],
  start: number,
  count: number,
  stats: BlockStats | null,
): void {
  const { spec, round } = s;
  const keep = s.keep;
  for (let i = 0; i < spec.models.length; i++) {
    const d = s.deltas[i]!;
    const wd = s.weighted[i]!;
    const kept = trimmers[i]!.mark(s.deltaBits[i]!, start, count, keep, spec.models[i]!, spec, s.words);
    const scale = scales[i]!;
    const w = spec.models[i]!.weight;
    let sqBefore = 0;
    let sqAfter = 0;
    let nonzero = 0;
    // δ̂ = δ·keep (·scale), Δ = w·δ̂: one pass, with the statistics on the way.
    for (let j = 0; j < count; j++) {
      const v = d[j]!;
      sqBefore += v * v;
      let h = keep[j] ? v : 0;
      if (scale !== 1) h = round(h * scale);
      d[j] = h;
      sqAfter += h * h;
      if (h !== 0) nonzero++;
      wd[j] = round(w * h);
    }
    if (stats) {
      stats.kept[i]! += kept;
      stats.sqBefore[i]! += sqBefore;
      stats.sqAfter[i]! += sqAfter;
      stats.keptNonzero[i]! += nonzero;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Phase 4: the sign of the vote's total (paper semantics only)

export function scanVotes(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  selections: readonly BlockSelection[],
  scales: readonly number[],
): number {
  const s = new Scratch(spec, inputs);
  const trimmers = selections.map((sel) => new Trimmer(sel));
  const votes = spec.vote === "weighted" ? s.weighted : s.deltas;
  let total = 0;
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    s.loadDeltas(c, count);
    trimmedChunk(s, trimmers, scales, c, count, null);
    for (let j = 0; j < count; j++) {
      let sum = 0;
      for (let i = 0; i < votes.length; i++) sum = Math.fround(sum + votes[i]![j]!);
      total += sum > 0 ? 1 : sum < 0 ? -1 : 0;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------
// Phase 5: the merge

export function emptyStats(n: number): BlockStats {
  const zeros = () => new Array<number>(n).fill(0);
  return {
    kept: zeros(),
    agreed: zeros(),
    keptNonzero: zeros(),
    sqBefore: zeros(),
    sqAfter: zeros(),
    conflicts: 0,
  };
}

/**
 * Merge elements [start, end) into `out` (the whole output tensor's bytes, in spec.outDtype).
 * `majority`: the elected sign where the vote is exactly 0 under the paper's rule (ignored otherwise).
 */
export function mergeBlock(
  spec: GtaSpec,
  inputs: GtaInputs,
  start: number,
  end: number,
  selections: readonly BlockSelection[],
  scales: readonly number[],
  majority: number,
  out: Uint8Array,
): BlockStats {
  if (spec.fastPath !== false && fastPathApplies(spec, inputs, selections, scales)) {
    const fast = mergeBlockBf16(spec, inputs, start, end, selections, out);
    if (fast) return fast;
  }
  const s = new Scratch(spec, inputs);
  const n = spec.models.length;
  const stats = emptyStats(n);
  const trimmers = selections.map((sel) => new Trimmer(sel));
  const { round, roundW } = s;
  const votes = spec.vote === "weighted" ? s.weighted : s.deltas;
  const weighted = s.weighted;
  const zeroSign = spec.zeroVote === "positive" ? 1 : majority > 0 ? 1 : -1;
  const lambda = Math.fround(spec.lambda);
  const divisors = divisorTable(spec, round);
  const weights = spec.models.map((m) => m.weight);
  const agreed = stats.agreed;
  const consensus = spec.consensus === "sum";
  const countDivisor = spec.divisor === "count";
  const divide = spec.normalize || (consensus && countDivisor);
  const addBase = spec.addBase;
  let conflicts = 0;
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    s.loadDeltas(c, count);
    trimmedChunk(s, trimmers, scales, c, count, stats);
    const base = s.base;
    const o = s.out;
    for (let j = 0; j < count; j++) {
      let t = 0;
      let divisor: number;
      if (consensus) {
        let sum = 0;
        let pos = false;
        let neg = false;
        for (let i = 0; i < n; i++) {
          const v = votes[i]![j]!;
          sum = Math.fround(sum + v);
          if (v > 0) pos = true;
          else if (v < 0) neg = true;
        }
        if (pos && neg) conflicts++;
        // mergekit: (sum >= 0) → +1, so -0 and 0 elect +1 and NaN elects -1. paper: exactly 0 → majority.
        const sign = sum > 0 ? 1 : sum < 0 ? -1 : sum === 0 ? zeroSign : -1;
        let pattern = 0;
        let agreeing = 0;
        for (let i = 0; i < n; i++) {
          const v = votes[i]![j]!;
          if (sign > 0 ? v > 0 : v < 0) {
            t = Math.fround(t + weighted[i]![j]!);
            pattern |= 1 << i;
            agreeing++;
            agreed[i]!++;
          }
        }
        divisor = countDivisor
          ? Math.max(1, agreeing)
          : divisors !== null
            ? divisors[pattern]!
            : weightDivisor(weights, votes, sign, j, round);
      } else {
        for (let i = 0; i < n; i++) {
          const v = weighted[i]![j]!;
          t = Math.fround(t + v);
          if (v !== 0) agreed[i]!++;
        }
        divisor = divisors![0]!;
      }
      t = round(t);
      if (divide) t = round(t / divisor);
      if (lambda !== 1) t = round(t * lambda);
      o[j] = addBase ? roundW(round(base[j]! + t)) : roundW(t);
    }
    encodeRange(o, count, spec.outDtype, out, c);
  }
  stats.conflicts = conflicts;
  return stats;
}

/**
 * The divisor for each agreement pattern (bit i set = model i agrees), when there are few enough models
 * to tabulate: mergekit's D = Σ w·M rounded to W, with 0 replaced by 1. Without consensus, entry 0 holds
 * Σ w (|Σ w| < 1e-8 replaced by 1). Null when the vote divides by counts or there are too many models.
 */
function divisorTable(spec: GtaSpec, round: Round): Float64Array | null {
  const weights = spec.models.map((m) => m.weight);
  if (spec.consensus === null) {
    let sum = 0;
    for (const w of weights) sum = Math.fround(sum + w);
    const d = round(sum);
    return Float64Array.of(Math.abs(d) < 1e-8 ? 1 : d);
  }
  if (spec.divisor === "count" || weights.length > 16) return null;
  const table = new Float64Array(1 << weights.length);
  for (let pattern = 0; pattern < table.length; pattern++) {
    let sum = 0;
    for (let i = 0; i < weights.length; i++) if (pattern & (1 << i)) sum = Math.fround(sum + weights[i]!);
    const d = round(sum);
    table[pattern] = d === 0 ? 1 : d;
  }
  return table;
}

function weightDivisor(
  weights: readonly number[],
  votes: readonly Float32Array[],
  sign: number,
  j: number,
  round: Round,
): number {
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    const v = votes[i]![j]!;
    if (sign > 0 ? v > 0 : v < 0) sum = Math.fround(sum + weights[i]!);
  }
  const d = round(sum);
  return d === 0 ? 1 : d;
}
