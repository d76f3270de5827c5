import { describe, expect, it } from "vitest";
import { ratioToDouble, sumUnits, toUnits } from "../src/numeric/exact.js";
import { numpySum } from "../src/numeric/numpy-sum.js";
import { pythonHarmonicMean, pythonMean, StatisticsError } from "../src/numeric/python-statistics.js";

describe("exact double arithmetic", () => {
  it("represents doubles as integer counts of 2^-1074", () => {
    expect(toUnits(2 ** -1074)).toBe(1n);
    expect(toUnits(1)).toBe(1n << 1074n);
    expect(toUnits(-0.5)).toBe(-(1n << 1073n));
    expect(toUnits(0)).toBe(0n);
    // MAX_VALUE = (2^53 − 1)·2^971, so (2^53 − 1)·2^(971 + 1074) units.
    expect(toUnits(Number.MAX_VALUE)).toBe(((1n << 53n) - 1n) << 2045n);
  });

  it("rounds a ratio of integers exactly like IEEE division of exactly representable operands", () => {
    let seed = 99;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let i = 0; i < 500; i++) {
      // Both operands below 2^53, so the JavaScript division is itself correctly rounded.
      const a = next() * 2 ** 21 + (next() % 2 ** 21);
      const b = (next() % 2 ** 30) + 1;
      expect(ratioToDouble(BigInt(a), BigInt(b))).toBe(a / b);
      expect(ratioToDouble(BigInt(-a), BigInt(b))).toBe(-a / b);
    }
  });

  it("rounds halfway cases to even, and handles subnormal and overflowing results", () => {
    // 2^53 + 1 lies halfway between 2^53 and 2^53 + 2: even mantissa wins.
    expect(ratioToDouble((1n << 53n) + 1n, 1n)).toBe(2 ** 53);
    expect(ratioToDouble((1n << 53n) + 3n, 1n)).toBe(2 ** 53 + 4);
    expect(ratioToDouble(3n, 1n << 1075n)).toBe(2 ** -1073); // 1.5 × 2^-1074 → ties to even: 2 × 2^-1074
    expect(ratioToDouble(1n, 1n << 1075n)).toBe(0); // half the smallest subnormal → 0 (even)
    expect(ratioToDouble(1n << 1100n, 1n)).toBe(Number.POSITIVE_INFINITY);
  });

  it("sums without rounding", () => {
    // 0.1 + 0.2 + 0.3 in doubles is 0.6000000000000001; the exact sum of the three doubles rounds to 0.6.
    expect(ratioToDouble(sumUnits([0.1, 0.2, 0.3]), 1n << 1074n)).toBe(0.6);
    expect(ratioToDouble(sumUnits([1e300, 1, -1e300]), 1n << 1074n)).toBe(1);
  });
});

describe("Python statistics semantics", () => {
  it("mean rounds the exact sum once", () => {
    // Python: statistics.mean([0.1, 0.2, 0.3]) == 0.2, while (0.1 + 0.2 + 0.3) / 3 == 0.20000000000000004.
    expect(pythonMean([0.1, 0.2, 0.3])).toBe(0.2);
    expect((0.1 + 0.2 + 0.3) / 3).not.toBe(0.2);
    expect(pythonMean([1, 2, 3, 4])).toBe(2.5);
    expect(() => pythonMean([])).toThrow(StatisticsError);
  });

  it("harmonic mean: n / Σ 1/x, with Python's special cases", () => {
    expect(pythonHarmonicMean([40, 60])).toBe(48);
    expect(pythonHarmonicMean([0.5])).toBe(0.5); // one value: returned as is
    expect(pythonHarmonicMean([0.25, 0.5, 1])).toBe(3 / 7); // 3 / (4 + 2 + 1)
    // Python: statistics.harmonic_mean([0.1, 0.2, 0.3]) == 0.16363636363636364 (3 / (10 + 5 + 3.3333333333333335)).
    expect(pythonHarmonicMean([0.1, 0.2, 0.3])).toBe(0.16363636363636364);
  });

  it("harmonic mean is exactly 0 as soon as any value is 0", () => {
    expect(pythonHarmonicMean([0.9, 0, 0.8])).toBe(0);
    expect(pythonHarmonicMean([0, 1])).toBe(0);
    expect(pythonHarmonicMean([0])).toBe(0);
    expect(pythonHarmonicMean([Number.NaN, 0])).toBe(0);
  });

  it("harmonic mean rejects negative values and empty data like Python", () => {
    expect(() => pythonHarmonicMean([0.5, -0.1])).toThrow("harmonic mean does not support negative values");
    expect(() => pythonHarmonicMean([-1])).toThrow("harmonic mean does not support negative values");
    expect(() => pythonHarmonicMean([])).toThrow("harmonic_mean requires at least one data point");
  });

  it("harmonic mean sums the reciprocals exactly", () => {
    // Rounding the reciprocal sum first would give 12 / 115.64792439040834 = 0.10376395262255059;
    // Python's exact sum gives 0.10376395262255057 (computed with CPython 3.11's statistics module).
    const xs = [
      0.23796462709189137, 0.5442292252959519, 0.36995516654807925, 0.6039200385961945, 0.625720304108054,
      0.06552885923981311, 0.013167991554874137, 0.83746908209646, 0.25935401432800764, 0.23433096104669637,
      0.9956448355104628, 0.47026350752244794,
    ];
    let naive = 0;
    for (const x of xs) naive += 1 / x;
    expect(12 / naive).toBe(0.10376395262255059);
    expect(pythonHarmonicMean(xs)).toBe(0.10376395262255057);
  });
});

describe("numpySum (numpy's pairwise summation)", () => {
  it("adds fewer than 8 values left to right", () => {
    expect(numpySum([0.1, 0.2, 0.3])).toBe(0.1 + 0.2 + 0.3);
    expect(numpySum([])).toBe(0);
  });

  it("uses 8 interleaved accumulators for 8..128 values", () => {
    const xs = [1e16, 1, 1, 1, 1, 1, 1, 1];
    // ((1e16 + 1) + (1 + 1)) + ((1 + 1) + (1 + 1)): the first +1 is lost (a tie, rounded to the even 1e16),
    // then 1e16 + 2 + 4. numpy: np.add.reduce([1e16] + [1.0] * 7) == 1.0000000000000006e16.
    expect(numpySum(xs)).toBe(1e16 + 6);
    let sequential = 0;
    for (const x of xs) sequential += x;
    expect(sequential).toBe(1e16); // each +1 is lost left to right
  });

  it("splits blocks above 128 at a multiple of 8 below the middle", () => {
    // n = 200: halves of 96 and 104 (100 rounded down to a multiple of 8). Splitting at 100 would give
    // 2.0000000000000184e16; numpy: np.add.reduce(xs) == 2.0000000000000176e16.
    const xs = Array.from({ length: 200 }, (_, i) => (i === 0 || i === 96 ? 1e16 : 1));
    expect(numpySum(xs)).toBe(2.0000000000000176e16);
    expect(numpySum(xs.slice(0, 100)) + numpySum(xs.slice(100))).toBe(2.0000000000000184e16);
  });
});
