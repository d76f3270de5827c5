/**
 * Hyperband early termination, the W&B variant (`wandb/sweeps:src/sweeps/hyperband_stopping.py`). It is not
 * the bracketed successive halving of Li et al.: W&B only uses the paper's bracket iterations as checkpoints.
 *
 * - Bands (in iterations = number of logged values of the metric):
 *   with `max_iter` and `s`: b = max_iter; repeat s times { b /= eta; stop if b < 1; keep ⌊b⌋ } (sorted);
 *   with `min_iter`: min_iter · etaᵏ for k = 0, 1, 2, … (⌊·⌋ each).
 * - Threshold at band b: the metric at iteration b of every trial (any state) that reached b, sorted best
 *   first; the threshold is the value at index ⌊len · (1/eta)⌋, so about the best 1/eta survive.
 * - A running trial is checked at the largest band it has reached. With `strict` (default) its value at
 *   that band is compared, else its best value so far; it is stopped when that is worse than the threshold.
 * Everything is in minimisation form (values negated for `maximize`).
 */
import type { HyperbandConfig, SweepMetric } from "./config.js";

export function hyperbandBands(config: HyperbandConfig): number[] {
  const bands: number[] = [];
  if (config.max_iter !== undefined && config.s !== undefined) {
    let band = config.max_iter;
    for (let i = 0; i < config.s; i++) {
      band /= config.eta;
      if (band < 1) break;
      bands.push(Math.floor(band));
    }
    bands.sort((a, b) => a - b);
  } else if (config.min_iter !== undefined) {
    let band = config.min_iter;
    for (let i = 0; i < 100; i++) {
      bands.push(Math.floor(band));
      band *= config.eta;
    }
  }
  if (bands.length === 0) {
    throw new Error("hyperband: no bands; increase s or max_iter, decrease eta, or use min_iter");
  }
  return bands;
}

export interface HyperbandTrial {
  id: string;
  running: boolean;
  /** The metric's logged values, in order. */
  history: readonly number[];
}

export interface HyperbandStop {
  id: string;
  /** The band (iteration) the decision was made at. */
  band: number;
  /** The compared value and the threshold, in the metric's own sign. */
  value: number;
  threshold: number;
}

/** The running trials hyperband would stop now. */
export function hyperbandStops(
  trials: readonly HyperbandTrial[],
  config: HyperbandConfig,
  metric: SweepMetric,
): HyperbandStop[] {
  const bands = hyperbandBands(config);
  const sign = metric.goal === "maximize" ? -1 : 1;
  const histories = trials.map((t) => t.history.filter(Number.isFinite).map((v) => sign * v));
  const nonEmpty = histories.filter((h) => h.length > 0);
  const thresholds = bands.map((band) => {
    const atBand = nonEmpty.filter((h) => h.length >= band).map((h) => h[band - 1]!);
    if (atBand.length === 0) return Number.POSITIVE_INFINITY;
    atBand.sort((a, b) => a - b);
    return atBand[Math.floor((1 / config.eta) * atBand.length)]!;
  });

  const stops: HyperbandStop[] = [];
  trials.forEach((trial, i) => {
    if (!trial.running) return;
    const history = histories[i]!;
    let band = -1;
    let threshold = 0;
    bands.forEach((b, j) => {
      if (b <= history.length) {
        band = b;
        threshold = thresholds[j]!;
      }
    });
    if (band === -1) return;
    const value = config.strict ? history[band - 1]! : Math.min(...history);
    if (value > threshold)
      stops.push({ id: trial.id, band, value: sign * value, threshold: sign * threshold });
  });
  return stops;
}
