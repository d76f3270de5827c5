/** What every search method sees of the trials so far, and what it must provide. */
import type { SweepMetric } from "../config.js";

/** `stopped` is a trial ended early by hyperband; `killed` one ended by the user (Ctrl-C). */
export type TrialState = "running" | "finished" | "failed" | "killed" | "stopped";

export interface TrialObservation {
  /** Flat dotted parameter names → values. */
  params: Record<string, unknown>;
  state: TrialState;
  /** The metric's values in the order they were logged (finite values only). */
  history: number[];
  /** The metric in the run's summary, when there is one. */
  summary?: number | undefined;
}

export interface SearchStrategy {
  /** Parameters for the next trial, or null when the method has nothing left (an exhausted grid). */
  next(trials: readonly TrialObservation[]): Record<string, unknown> | null;
  /** The number of distinct trials the method can produce, when finite (grid). */
  readonly size: number | undefined;
}

/**
 * A trial's metric as W&B's controller reads it (`SweepRun.metric_extremum`): the best value over the
 * logged history and the summary, best meaning lowest for `minimize` and highest for `maximize`.
 */
export function metricExtremum(trial: TrialObservation, goal: SweepMetric["goal"]): number | undefined {
  const all = trial.summary === undefined ? trial.history : [...trial.history, trial.summary];
  if (all.length === 0) return undefined;
  return goal === "maximize" ? Math.max(...all) : Math.min(...all);
}
