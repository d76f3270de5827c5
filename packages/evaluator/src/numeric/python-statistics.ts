import { countOverUnits, sumUnits, unitsOverCount } from "./exact.js";

/** Python's `statistics.StatisticsError`. */
export class StatisticsError extends Error {
  override readonly name = "StatisticsError";
}

/**
 * `statistics.mean(data)` for floats: the exact sum (as a fraction) divided by n, rounded once.
 * NaN in, NaN out; an infinity makes the sum infinite, as in Python.
 */
export function pythonMean(data: readonly number[]): number {
  if (data.length < 1) throw new StatisticsError("mean requires at least one data point");
  const special = nonFiniteSum(data);
  if (special !== undefined) return special;
  return unitsOverCount(sumUnits(data), data.length);
}

/**
 * `statistics.harmonic_mean(data)` (Python ≥ 3.10, no weights):
 * - one value: returned as is (after the negative check);
 * - any value 0: returns 0 (Python catches the ZeroDivisionError), even if another value is NaN later on;
 * - otherwise n / Σ(1/x), the reciprocals rounded to doubles, summed exactly, divided once.
 * Negative values raise before anything else is looked at.
 */
export function pythonHarmonicMean(data: readonly number[]): number {
  const n = data.length;
  if (n < 1) throw new StatisticsError("harmonic_mean requires at least one data point");
  const negativeMessage = "harmonic mean does not support negative values";
  if (n === 1) {
    const x = data[0]!;
    if (x < 0) throw new StatisticsError(negativeMessage);
    return x;
  }
  // Python walks the values lazily: a negative value raises, a zero returns 0, whichever comes first.
  const reciprocals: number[] = [];
  for (const x of data) {
    if (x < 0) throw new StatisticsError(negativeMessage);
    if (x === 0) return 0;
    reciprocals.push(1 / x);
  }
  const special = nonFiniteSum(reciprocals);
  if (special !== undefined) return Number.isNaN(special) ? Number.NaN : n / special;
  return countOverUnits(n, sumUnits(reciprocals));
}

/** The sum when some value is NaN or infinite (where exact summation does not apply), else undefined. */
function nonFiniteSum(values: readonly number[]): number | undefined {
  if (values.every(Number.isFinite)) return undefined;
  let special = 0;
  for (const x of values) if (!Number.isFinite(x)) special += x;
  return special;
}
