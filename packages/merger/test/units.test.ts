/** The small pieces: rounding, the counter-based generator, histogram selection, breadcrumbs counts. */
import { f16BitsToF32, roundToBf16InPlace, roundToF16InPlace } from "@lethe/core";
import { describe, expect, it } from "vitest";
import { breadcrumbsCounts } from "../src/sparsify/breadcrumbs.js";
import { checkDellaParameters } from "../src/sparsify/della.js";
import { locate, selectFirstLevel, selectSecondLevel, tieQuotas } from "../src/sparsify/magnitude-select.js";
import { philox4x32, randomKey, randomWords } from "../src/sparsify/random.js";
import { roundBf16, roundF16 } from "../src/working-dtype.js";

describe("scalar rounding equals the bit-level conversion", () => {
  const patterns: number[] = [];
  // Every bf16 exponent/mantissa with low halves that are exact ties, near ties and arbitrary.
  for (let hi = 0; hi < 65536; hi += 1)
    for (const lo of [0, 1, 0x7fff, 0x8000, 0x8001, 0xffff]) patterns.push(((hi << 16) | lo) >>> 0);

  it("roundBf16, including subnormals, overflow to Inf, signed zeros and NaN", () => {
    const expected = new Float32Array(patterns.length);
    new Uint32Array(expected.buffer).set(patterns);
    const values = Array.from(expected);
    roundToBf16InPlace(expected);
    let bad = 0;
    values.forEach((v, i) => {
      const r = roundBf16(v);
      const e = expected[i]!;
      if (!(Object.is(r, e) || (Number.isNaN(r) && Number.isNaN(e)))) bad++;
    });
    expect(bad).toBe(0);
  });

  it("roundF16 over the whole f16 range and its rounding boundaries", () => {
    const values: number[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      const v = f16BitsToF32(h);
      const next = f16BitsToF32(h + 1);
      const mid = (v + next) / 2;
      values.push(v, -v, mid, -mid, Math.fround(mid * (1 + 2 ** -20)), Math.fround(mid * (1 - 2 ** -20)));
    }
    values.push(65519.99, 65520, 1e6, Infinity, -Infinity, 2 ** -30, -(2 ** -26), 0, -0);
    const expected = Float32Array.from(values);
    roundToF16InPlace(expected);
    values.forEach((v, i) => {
      expect(Object.is(roundF16(v), expected[i]!), `${v}`).toBe(true);
    });
  });
});

describe("Philox4x32-10", () => {
  it("matches the Random123 known-answer vectors", () => {
    const out = new Uint32Array(4);
    philox4x32(0, 0, 0, 0, 0, 0, out);
    expect([...out]).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect([...out]).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect([...out]).toEqual([0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
  });

  it("gives an element the same word whatever range it is drawn in, and differs by key and model", () => {
    const key = randomKey(42, "model.layers.0.mlp.up_proj.weight");
    const all = randomWords(key, 1, 0, 0, 1000, new Uint32Array(1000));
    const part = randomWords(key, 1, 0, 333, 101, new Uint32Array(101));
    expect([...part]).toEqual([...all.subarray(333, 434)]);
    const otherModel = randomWords(key, 2, 0, 0, 1000, new Uint32Array(1000));
    const otherTensor = randomWords(
      randomKey(42, "model.layers.1.mlp.up_proj.weight"),
      1,
      0,
      0,
      1000,
      new Uint32Array(1000),
    );
    const otherSeed = randomWords(
      randomKey(43, "model.layers.0.mlp.up_proj.weight"),
      1,
      0,
      0,
      1000,
      new Uint32Array(1000),
    );
    for (const other of [otherModel, otherTensor, otherSeed]) expect([...other]).not.toEqual([...all]);
    // Roughly uniform: the mean of 1000 uniforms is within 5 standard errors of 1/2.
    const mean = all.reduce((a, w) => a + w / 2 ** 32, 0) / all.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / 1000));
  });
});

describe("histogram selection", () => {
  it("locates the m-th largest and splits ties across blocks in index order", () => {
    const hist = new Uint32Array(8);
    hist[7] = 3;
    hist[5] = 4;
    hist[2] = 10;
    expect(locate(hist, 3)).toEqual({ bin: 7, needed: 3, count: 3 });
    expect(locate(hist, 5)).toEqual({ bin: 5, needed: 2, count: 4 });
    expect(tieQuotas(5, [2, 0, 1, 4, 3])).toEqual([2, 0, 1, 2, 0]);
  });

  it("finishes in one level on the bf16 grid and refines in a second otherwise", () => {
    const high = new Float64Array(1 << 15);
    high[0x3f80] = 10; // 1.0 .. 1.0078 (f32 keys 0x3f800000..0x3f80ffff)
    high[0x3f00] = 20;
    expect(selectFirstLevel(high, 30, 4, true)).toEqual({
      done: true,
      cut: { key: 0x3f800000, ties: 4 },
      tied: 10,
    });
    expect(selectFirstLevel(high, 30, 10, false)).toEqual({
      done: true,
      cut: { key: 0x3f7fffff, ties: 0 },
      tied: 0,
    });
    expect(selectFirstLevel(high, 30, 0, false)).toEqual({
      done: true,
      cut: { key: 0x80000000, ties: 0 },
      tied: 0,
    });
    expect(selectFirstLevel(high, 30, 30, false)).toEqual({ done: true, cut: { key: -1, ties: 0 }, tied: 0 });
    const first = selectFirstLevel(high, 30, 4, false);
    expect(first).toEqual({ done: false, bin: 0x3f80, needed: 4 });
    const low = new Float64Array(1 << 16);
    low[0x9000] = 3;
    low[0x1234] = 7;
    expect(selectSecondLevel(0x3f80, low, 4)).toEqual({ cut: { key: 0x3f801234, ties: 1 }, tied: 7 });
  });
});

describe("sparsifier parameters", () => {
  it("counts breadcrumbs' band like the formula, keeping all of it when n_top is 0", () => {
    expect(breadcrumbsCounts(1000, 0.5, 0.01)).toEqual({ keep: 510, drop: 10 });
    // n_bot would be negative: fewer outliers are dropped to reach the density.
    expect(breadcrumbsCounts(1000, 0.995, 0.01)).toEqual({ keep: 1000, drop: 5 });
    // mergekit's [n_bot:-0] slice keeps nothing here; Lethe keeps the top ⌊d·n⌋.
    expect(breadcrumbsCounts(50, 0.5, 0.01)).toEqual({ keep: 25, drop: 0 });
  });

  it("refuses DELLA epsilons that leave (0, 1) like mergekit", () => {
    expect(() => checkDellaParameters(0.5, 0.5, "t (model 0)")).toThrow(
      "t (model 0): epsilon 0.5 must keep density ± epsilon inside (0, 1) (density is 0.5)",
    );
    expect(() => checkDellaParameters(0.5, 0.2, "t")).not.toThrow();
  });
});
