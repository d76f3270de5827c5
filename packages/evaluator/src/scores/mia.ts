import { FormatError } from "@lethe/core";
import { numpySum } from "../numeric/numpy-sum.js";

/** One point set of an ROC curve, as `sklearn.metrics.roc_curve` returns it (drop_intermediate=True). */
export interface RocCurve {
  fpr: Float64Array;
  tpr: Float64Array;
  /** Score thresholds, descending; the first is +Infinity (sklearn ≥ 1.3). */
  thresholds: Float64Array;
}

/**
 * `sklearn.metrics.roc_curve(labels, scores)` with the defaults the official script uses.
 * Scores are sorted descending; each distinct score value is one threshold, so tied scores move the
 * curve diagonally (that is how ties earn half credit). Points whose false- and true-positive counts
 * both have a zero second difference (collinear interior points) are dropped, then (0, 0) is prepended.
 */
export function rocCurve(labels: readonly (0 | 1)[], scores: readonly number[]): RocCurve {
  if (labels.length !== scores.length) {
    throw new FormatError(`roc_curve: ${labels.length} labels but ${scores.length} scores`);
  }
  for (const s of scores) if (Number.isNaN(s)) throw new FormatError("roc_curve: a score is NaN");
  const order = scores.map((_, i) => i);
  // Descending score; ties keep a fixed order (irrelevant: only the counts at distinct scores matter).
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  const tps: number[] = [];
  const fps: number[] = [];
  const thresholds: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (labels[i] === 1) tp++;
    else fp++;
    const next = order[k + 1];
    if (next === undefined || scores[next] !== scores[i]) {
      tps.push(tp);
      fps.push(fp);
      thresholds.push(scores[i]!);
    }
  }
  const keep = dropIntermediate(fps, tps);
  const keptFps = [0, ...keep.map((k) => fps[k]!)];
  const keptTps = [0, ...keep.map((k) => tps[k]!)];
  const keptThresholds = [Number.POSITIVE_INFINITY, ...keep.map((k) => thresholds[k]!)];
  const totalFp = keptFps[keptFps.length - 1]!;
  const totalTp = keptTps[keptTps.length - 1]!;
  return {
    fpr: Float64Array.from(keptFps, (v) => v / totalFp),
    tpr: Float64Array.from(keptTps, (v) => v / totalTp),
    thresholds: Float64Array.from(keptThresholds),
  };
}

/** Indices kept by sklearn's `drop_intermediate` (only applied when there are more than 2 points). */
function dropIntermediate(fps: readonly number[], tps: readonly number[]): number[] {
  const n = fps.length;
  if (n <= 2) return fps.map((_, i) => i);
  const keep = [0];
  for (let i = 1; i < n - 1; i++) {
    const fpCurvature = fps[i + 1]! - 2 * fps[i]! + fps[i - 1]!;
    const tpCurvature = tps[i + 1]! - 2 * tps[i]! + tps[i - 1]!;
    if (fpCurvature !== 0 || tpCurvature !== 0) keep.push(i);
  }
  keep.push(n - 1);
  return keep;
}

/** `sklearn.metrics.auc(x, y)` for a non-decreasing x: numpy's trapezoid rule, Σ dx·(y0+y1)/2 summed pairwise. */
export function trapezoidArea(x: Float64Array, y: Float64Array): number {
  const terms = new Float64Array(Math.max(0, x.length - 1));
  for (let i = 0; i < terms.length; i++) {
    terms[i] = ((x[i + 1]! - x[i]!) * (y[i + 1]! + y[i]!)) / 2.0;
  }
  return numpySum(terms);
}

/**
 * The official MIA AUC: members labelled 1, non-members 0, score = −NLL (a lower loss looks more like a
 * member). Needs at least one of each; NaN losses are rejected as the official script asserts.
 */
export function miaAuc(memberNll: readonly number[], nonmemberNll: readonly number[]): number {
  if (memberNll.length === 0 || nonmemberNll.length === 0) {
    throw new FormatError(
      `MIA AUC needs members and non-members (got ${memberNll.length} and ${nonmemberNll.length})`,
    );
  }
  for (const [name, values] of [
    ["member", memberNll],
    ["nonmember", nonmemberNll],
  ] as const) {
    const i = values.findIndex((v) => Number.isNaN(v));
    if (i >= 0) throw new FormatError(`MIA: ${name} NLL #${i} is NaN`);
  }
  const scores = [...memberNll, ...nonmemberNll].map((nll) => -1 * nll);
  const labels: (0 | 1)[] = [...memberNll.map(() => 1 as const), ...nonmemberNll.map(() => 0 as const)];
  const { fpr, tpr } = rocCurve(labels, scores);
  return trapezoidArea(fpr, tpr);
}

/** MIA score = 1 − 2·|AUC − 0.5|: 1 at chance level, 0 at perfect (or perfectly inverted) separation. */
export function miaScore(auc: number): number {
  return 1 - Math.abs(auc - 0.5) * 2;
}
