/**
 * One tensor through generalized task arithmetic: the phases of kernels/gta.ts run over blocks, with the
 * per-tensor decisions in between (exact-k thresholds and their tie quotas, L1 rescale factors, the
 * paper's majority sign) taken here from the blocks' partial results, combined in block order.
 */
import {
  type BlockSelection,
  type BlockStats,
  emptyStats,
  type GtaInputs,
  type GtaSpec,
} from "../kernels/gta.js";
import { INFINITE_KEY } from "../kernels/gta-bf16.js";
import type { DellaModel } from "../sparsify/della.js";
import {
  accumulate,
  type Cut,
  type FirstLevel,
  HIGH_BINS,
  keepAllTies,
  LOW_BINS,
  SELECT_ALL,
  SELECT_NONE,
  selectFirstLevel,
  selectSecondLevel,
  tieQuotas,
} from "../sparsify/magnitude-select.js";
import { inverseDensityScale, l1Scale } from "../sparsify/rescale.js";
import type { RescalePlan, TrimPlan } from "../sparsify/trim.js";
import { rounderFor } from "../working-dtype.js";
import { type Block, blocksOf } from "./blocks.js";
import type { BlockRunner } from "./runner.js";

export interface GtaTensorJob {
  spec: GtaSpec;
  inputs: GtaInputs;
  trims: TrimPlan[];
  rescales: RescalePlan[];
  /** Cuts decided over the whole model (the paper's global trim): used instead of per-tensor selection. */
  fixedCuts?: (Cut | null)[];
  /** Block size override (tests use small blocks to exercise tie quotas across blocks). */
  blockElements?: number;
}

export interface ModelTensorStats {
  kept: number;
  keptNonzero: number;
  agreed: number;
  l2Before: number;
  l2After: number;
  /** The factor applied to kept elements by rescaling (1 when none). */
  scale: number;
}

export interface TensorStats {
  numel: number;
  conflicts: number;
  models: ModelTensorStats[];
}

/** Where a cut's tied elements are counted: a high bin (single-level) or a low-bits histogram. */
interface CutSource {
  cut: Cut;
  /** Per block: how many of its elements at cut.key are selected. Null when the cut has no partial ties. */
  quotas: number[] | null;
}

export async function mergeGtaTensor(
  job: GtaTensorJob,
  runner: BlockRunner,
  out: Uint8Array,
): Promise<TensorStats> {
  const { spec, inputs, trims } = job;
  const n = spec.models.length;
  const usesDella = trims.some((t) => t.kind === "della");
  const blocks = blocksOf(spec.numel, usesDella ? { cols: spec.cols } : undefined, job.blockElements);

  const { cuts, histograms } = await selectCuts(job, blocks, runner);

  const dellaMasks = new Map<number, Uint8Array>();
  try {
    if (usesDella) {
      const models: DellaModel[] = [];
      trims.forEach((t, model) => {
        if (t.kind === "della") {
          models.push({ model, density: t.density, epsilon: t.epsilon });
          dellaMasks.set(model, runner.allocate(spec.numel));
        }
      });
      const masks = models.map((m) => dellaMasks.get(m.model)!);
      await runner.map(
        "dellaMasks",
        blocks.map((b) => [spec, inputs, b.start / spec.cols, b.end / spec.cols, models, masks] as const),
      );
    }

    const selectionsFor = (b: number): BlockSelection[] =>
      trims.map((trim, model): BlockSelection => {
        const fixed = job.fixedCuts?.[model];
        if (fixed) return { kind: "top", key: fixed.key, quota: Number.MAX_SAFE_INTEGER };
        switch (trim.kind) {
          case "all":
          case "none":
            return { kind: trim.kind };
          case "random":
            return { kind: "random", p: trim.p };
          case "della":
            return { kind: "mask", mask: dellaMasks.get(model)! };
          case "top": {
            const c = cuts[model]![0]!;
            return { kind: "top", key: c.cut.key, quota: quotaOf(c, b) };
          }
          case "band": {
            const [keep, drop] = cuts[model]!;
            return {
              kind: "band",
              keepKey: keep!.cut.key,
              keepQuota: quotaOf(keep!, b),
              dropKey: drop!.cut.key,
              dropQuota: quotaOf(drop!, b),
            };
          }
          default:
            throw new Error(`internal: trim ${(trim as { kind: string }).kind}`);
        }
      });
    const selections = blocks.map((_, b) => selectionsFor(b));

    const scales = new Array<number>(n).fill(1);
    const l1Models = job.rescales.flatMap((r, i) => (r.kind === "l1" ? [i] : []));
    if (l1Models.length > 0) {
      const norms = await runner.map(
        "scanNorms",
        blocks.map((b, k) => [spec, inputs, b.start, b.end, selections[k]!] as const),
      );
      for (const i of l1Models) {
        let before = 0;
        let after = 0;
        for (const block of norms) {
          before += block.l1Before[i]!;
          after += block.l1After[i]!;
        }
        const plan = job.rescales[i] as Extract<RescalePlan, { kind: "l1" }>;
        scales[i] = l1Scale(before, after, rounderFor(plan.work));
      }
    }
    job.rescales.forEach((r, i) => {
      if (r.kind === "inverse-density") scales[i] = inverseDensityScale(r.density);
    });

    let majority = 0;
    if (spec.consensus === "sum" && spec.zeroVote === "majority") {
      const votes = await runner.map(
        "scanVotes",
        blocks.map((b, k) => [spec, inputs, b.start, b.end, selections[k]!, scales] as const),
      );
      majority = Math.sign(votes.reduce((a, v) => a + v, 0));
    }

    const squares = squaresOf(spec, trims, cuts, histograms, scales);
    const blockSpec = squares ? { ...spec, squaresFromHistograms: true } : spec;
    const results = await runner.map(
      "mergeBlock",
      blocks.map(
        (b, k) => [blockSpec, inputs, b.start, b.end, selections[k]!, scales, majority, out] as const,
      ),
    );
    return combineStats(spec.numel, results, scales, squares);
  } finally {
    for (const mask of dellaMasks.values()) runner.release(mask);
  }
}

function quotaOf(source: CutSource, block: number): number {
  return source.quotas ? source.quotas[block]! : 0;
}

/**
 * Σδ² before and after trimming per model, from the whole tensor's magnitude histograms, when every model is
 * trimmed by a "top" cut on bf16-grid deltas that are all finite (each key then stands for one value) and the
 * fused kernel may run; else null, and the blocks sum them (the generic kernel always does).
 */
function squaresOf(
  spec: GtaSpec,
  trims: readonly TrimPlan[],
  cuts: CutSource[][],
  histograms: Map<number, Float64Array>,
  scales: readonly number[],
): { before: number[]; after: number[] } | null {
  const onGrid = spec.working === "BF16" && spec.arithmetic === "per-op" && !spec.inputsAreDeltas;
  const applies =
    spec.fastPath !== false &&
    onGrid &&
    scales.every((s) => s === 1) &&
    trims.every((t, model) => t.kind === "top" && histograms.has(model) && cuts[model]!.length === 1) &&
    [...histograms.values()].every((h) => h.subarray(INFINITE_KEY).every((n) => n === 0));
  if (!applies) return null;
  const before: number[] = [];
  const after: number[] = [];
  const value = new Float32Array(1);
  const bits = new Uint32Array(value.buffer);
  trims.forEach((_, model) => {
    const hist = histograms.get(model)!;
    const { cut } = cuts[model]![0]!;
    let sumBefore = 0;
    let sumAfter = 0;
    for (let key = 0; key < INFINITE_KEY; key++) {
      const count = hist[key]!;
      if (count === 0) continue;
      const keyBits = key << 16;
      bits[0] = keyBits;
      const square = value[0]! * value[0]!;
      sumBefore += count * square;
      if (keyBits > cut.key) sumAfter += count * square;
      else if (keyBits === cut.key) sumAfter += cut.ties * square;
    }
    before.push(sumBefore);
    after.push(sumAfter);
  });
  return { before, after };
}

/** The cuts each model's trim needs (one for "top", keep and drop for "band"), with per-block tie counts. */
async function selectCuts(
  job: GtaTensorJob,
  blocks: Block[],
  runner: BlockRunner,
): Promise<{ cuts: CutSource[][]; histograms: Map<number, Float64Array> }> {
  const { spec, inputs, trims } = job;
  const numel = spec.numel;
  const wanted: { model: number; m: number; atLeast: boolean }[][] = trims.map((t, model) => {
    if (job.fixedCuts?.[model]) return [];
    if (t.kind === "top") return [{ model, m: t.m, atLeast: t.atLeast }];
    if (t.kind === "band")
      return [
        { model, m: t.keep, atLeast: false },
        { model, m: t.drop, atLeast: false },
      ];
    return [];
  });
  const scanned = [...new Set(wanted.flat().map((w) => w.model))];
  const result: CutSource[][] = trims.map(() => []);
  if (scanned.length === 0) return { cuts: result, histograms: new Map() };

  const blockHigh = await runner.map(
    "scanMagnitudes",
    blocks.map((b) => [spec, inputs, b.start, b.end, scanned] as const),
  );
  const totalHigh = scanned.map((_, w) => {
    const total = new Float64Array(HIGH_BINS);
    for (const block of blockHigh) accumulate(total, block[w]!);
    return total;
  });
  // δ on the bf16 grid has zero low bits: one histogram level decides the cut exactly.
  const uniformLowBits = spec.working === "BF16" && spec.arithmetic === "per-op";

  const first: { model: number; m: number; atLeast: boolean; level: FirstLevel }[] = wanted
    .flat()
    .map((w) => ({
      ...w,
      level: selectFirstLevel(totalHigh[scanned.indexOf(w.model)]!, numel, w.m, uniformLowBits),
    }));
  const lowRequests: { model: number; bin: number }[] = [];
  for (const f of first) {
    if (
      !f.level.done &&
      !lowRequests.some((r) => r.model === f.model && r.bin === (f.level as { bin: number }).bin)
    ) {
      lowRequests.push({ model: f.model, bin: f.level.bin });
    }
  }
  let blockLow: Uint32Array[][] = [];
  let totalLow: Float64Array[] = [];
  if (lowRequests.length > 0) {
    blockLow = await runner.map(
      "scanLowBits",
      blocks.map((b) => [spec, inputs, b.start, b.end, lowRequests] as const),
    );
    totalLow = lowRequests.map((_, r) => {
      const total = new Float64Array(LOW_BINS);
      for (const block of blockLow) accumulate(total, block[r]!);
      return total;
    });
  }

  for (const f of first) {
    let cut: Cut;
    let tied: number;
    let tiedPerBlock: () => number[];
    if (f.level.done) {
      cut = f.level.cut;
      tied = f.level.tied;
      const w = scanned.indexOf(f.model);
      const bin = cut.key >>> 16;
      tiedPerBlock = () => blockHigh.map((block) => block[w]![bin]!);
    } else {
      const r = lowRequests.findIndex(
        (q) => q.model === f.model && q.bin === (f.level as { bin: number }).bin,
      );
      const second = selectSecondLevel(f.level.bin, totalLow[r]!, f.level.needed);
      cut = second.cut;
      tied = second.tied;
      const low = cut.key & 0xffff;
      tiedPerBlock = () => blockLow.map((block) => block[r]![low]!);
    }
    if (f.atLeast) cut = keepAllTies(cut, tied);
    const partial = cut !== SELECT_ALL && cut !== SELECT_NONE && cut.ties > 0;
    result[f.model]!.push({
      cut,
      quotas: partial ? tieQuotas(cut.ties, tiedPerBlock()) : null,
    });
  }
  return { cuts: result, histograms: new Map(scanned.map((model, w) => [model, totalHigh[w]!])) };
}

function combineStats(
  numel: number,
  blocks: BlockStats[],
  scales: number[],
  squares: { before: number[]; after: number[] } | null,
): TensorStats {
  const n = scales.length;
  const total = emptyStats(n);
  for (const b of blocks) {
    total.conflicts += b.conflicts;
    for (let i = 0; i < n; i++) {
      total.kept[i]! += b.kept[i]!;
      total.keptNonzero[i]! += b.keptNonzero[i]!;
      total.agreed[i]! += b.agreed[i]!;
      total.sqBefore[i]! += b.sqBefore[i]!;
      total.sqAfter[i]! += b.sqAfter[i]!;
    }
  }
  if (squares) {
    total.sqBefore = squares.before;
    total.sqAfter = squares.after;
  }
  return {
    numel,
    conflicts: total.conflicts,
    models: scales.map((scale, i) => ({
      kept: total.kept[i]!,
      keptNonzero: total.keptNonzero[i]!,
      agreed: total.agreed[i]!,
      l2Before: Math.sqrt(total.sqBefore[i]!),
      l2After: Math.sqrt(total.sqAfter[i]!),
      scale,
    })),
  };
}
