import { type Split, TASKS, type Task } from "@lethe/core";
import { pythonHarmonicMean } from "../numeric/python-statistics.js";
import type { SplitScores } from "./task-scores.js";

export type Metric = "regurgitation" | "knowledge";

/** One of the (up to) 12 numbers behind the task aggregate. */
export interface AggregateTerm {
  split: Split;
  task: Task;
  metric: Metric;
  /** The task mean as measured. */
  value: number | null;
  /** What enters the harmonic mean: 1 − value on forget, value on retain. */
  term: number | null;
}

export interface TaskAggregate {
  /** Harmonic mean of the terms; 0 when any term is 0; null when a term is undefined (no rows of a kind). */
  value: number | null;
  terms: AggregateTerm[];
  /** Why the aggregate is not the plain 12-term one, if it is not. */
  warnings: string[];
}

/**
 * The official task aggregate: for forget then retain, for each task present (sorted), regurgitation then
 * knowledge; forget values inverted (1 − v); harmonic mean with Python's `statistics.harmonic_mean`
 * semantics (exactly 0 as soon as any term is 0).
 */
export function taskAggregate(forget: SplitScores, retain: SplitScores): TaskAggregate {
  const terms: AggregateTerm[] = [];
  const warnings: string[] = [];
  for (const [split, scores] of [
    ["forget", forget],
    ["retain", retain],
  ] as const) {
    for (const task of TASKS) {
      const cell = scores[task];
      if (cell === undefined) {
        warnings.push(`${task} has no rows in ${split}: its 2 terms are left out`);
        continue;
      }
      for (const metric of ["regurgitation", "knowledge"] as const) {
        const value = cell[metric];
        const term = value === null ? null : split === "forget" ? 1 - value : value;
        if (value === null) {
          const kind = metric === "regurgitation" ? "sentence-completion (sc)" : "question (qa)";
          warnings.push(`${task} in ${split} has no ${kind} rows: ${metric} is undefined`);
        }
        terms.push({ split, task, metric, value, term });
      }
    }
  }
  if (terms.length === 0) return { value: null, terms, warnings: [...warnings, "no rows to aggregate"] };
  const numbers = terms.map((t) => t.term);
  // The official script would get NaN from pandas for an undefined term; we report null instead.
  const defined = numbers.every((n): n is number => n !== null);
  // With NaN terms Python still walks every value, so a zero anywhere still gives 0.
  const value = defined ? pythonHarmonicMean(numbers) : numbers.includes(0) ? 0 : null;
  return { value, terms, warnings };
}
