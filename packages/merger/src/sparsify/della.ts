/**
 * DELLA's `della_magprune` (mergekit sparsify.py), one row at a time (a 1-D tensor is one row):
 *
 *   rank = position of |δ| in the row, ascending, made a value of the work dtype, + 1
 *   rank_norm = clamp((rank − min rank) / (max rank − min rank), 0, 1)
 *   p = (d − ε) + rank_norm · 2 · ε          (every op rounded in the work dtype, as torch does)
 *   keep ~ Bernoulli(p)                       (then the usual L1 rescale)
 *
 * Ties in |δ| rank the lower column higher, as in the magnitude trim. The work dtype is bf16 for bf16
 * tensors in mergekit arithmetic and f32 otherwise (mergekit upcasts f16 on CPU). A row of one element gets p = d − ε (mergekit
 * divides 0 by 0 there).
 */
import { CHUNK, type GtaInputs, type GtaSpec, Scratch } from "../kernels/gta.js";
import { type Round, roundBf16, roundF32 } from "../working-dtype.js";
import { randomWords, STREAM_DELLA } from "./random.js";

export interface DellaModel {
  /** Index into spec.models. */
  model: number;
  density: number;
  epsilon: number;
}

/** Check mergekit's precondition on (d, ε). */
export function checkDellaParameters(density: number, epsilon: number, where: string): void {
  if (density >= 1 || density <= 0) return;
  if (density + epsilon >= 1 || density - epsilon <= 0) {
    throw new Error(
      `${where}: epsilon ${epsilon} must keep density ± epsilon inside (0, 1) (density is ${density})`,
    );
  }
}

/** Write the keep masks of rows [rowStart, rowEnd) for each listed model into masks[k] (whole-tensor arrays). */
export function dellaMasks(
  spec: GtaSpec,
  inputs: GtaInputs,
  rowStart: number,
  rowEnd: number,
  models: readonly DellaModel[],
  masks: readonly Uint8Array[],
): void {
  const cols = spec.cols;
  const scratch = new Scratch(spec, inputs, Math.max(cols, CHUNK));
  const round: Round = spec.arithmetic === "per-op" && spec.working === "BF16" ? roundBf16 : roundF32;
  const order = new Float64Array(cols);
  const probabilityOfRank = new Float64Array(cols);
  const words = new Uint32Array(cols);
  const tieSpan = 2 ** 21;
  if (cols >= tieSpan) throw new Error(`${spec.tensor}: DELLA rows longer than ${tieSpan} are not supported`);
  for (let row = rowStart; row < rowEnd; row++) {
    const start = row * cols;
    scratch.loadDeltas(start, cols);
    models.forEach(({ model, density, epsilon }, k) => {
      const mask = masks[k]!;
      if (density >= 1) {
        mask.fill(1, start, start + cols);
        return;
      }
      if (density <= 0) {
        mask.fill(0, start, start + cols);
        return;
      }
      rankProbabilities(cols, density, epsilon, round, probabilityOfRank);
      const bits = scratch.deltaBits[model]!;
      // Ascending by magnitude; among equal magnitudes the higher column first, so lower columns rank higher.
      for (let c = 0; c < cols; c++) order[c] = (bits[c]! & 0x7fffffff) * tieSpan + (tieSpan - 1 - c);
      order.sort();
      randomWords(spec.randomKey, spec.models[model]!.index, STREAM_DELLA, start, cols, words);
      for (let rank = 0; rank < cols; rank++) {
        const c = tieSpan - 1 - (order[rank]! % tieSpan);
        mask[start + c] = words[c]! < probabilityOfRank[rank]! * 4294967296 ? 1 : 0;
      }
    });
  }
}

/** p for each 0-based ascending rank of a row of `cols` elements, with mergekit's roundings. */
export function rankProbabilities(
  cols: number,
  density: number,
  epsilon: number,
  round: Round,
  out: Float64Array,
): void {
  const rankValue = (r: number) => round(round(r) + 1);
  const minRank = rankValue(0);
  const maxRank = rankValue(cols - 1);
  const span = round(maxRank - minRank);
  const eps = Math.fround(epsilon);
  const low = Math.fround(density - epsilon);
  for (let r = 0; r < cols; r++) {
    let norm = span === 0 ? 0 : round(round(rankValue(r) - minRank) / span);
    norm = Math.min(1, Math.max(0, norm));
    out[r] = round(low + round(round(norm * 2) * eps));
  }
}
