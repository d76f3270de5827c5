import { describe, expect, it } from "vitest";
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  roundScalarToBf16,
  roundToBf16InPlace,
  roundToF16InPlace,
} from "../src/tensor/convert.js";

// Independent references: decode 16-bit patterns with float64 arithmetic, and round by comparing distances.
function decodeF16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1024 + m) * 2 ** (e - 25);
}

function decodeBf16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 7) & 255;
  const m = h & 127;
  if (e === 0) return s * m * 2 ** -133;
  if (e === 255) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (128 + m) * 2 ** (e - 134);
}

/** Nearest representable value by exhaustive search over a sorted table; ties go to the even pattern. */
function nearest(
  x: number,
  table: { value: number; bits: number }[],
  maxFinite: number,
  halfUlpAtMax: number,
  infBits: number,
): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= maxFinite + halfUlpAtMax) {
    // At exactly the halfway point to the next power of two, RNE goes to the even pattern: infinity.
    return sign | infBits;
  }
  let lo = 0;
  let hi = table.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]!.value <= a) lo = mid;
    else hi = mid;
  }
  const below = table[lo]!;
  const above = table[hi]!;
  const dBelow = a - below.value;
  const dAbove = above.value - a;
  const pick = dBelow < dAbove ? below : dAbove < dBelow ? above : (below.bits & 1) === 0 ? below : above;
  return sign | pick.bits;
}

function positiveTable(decode: (h: number) => number, maxBits: number): { value: number; bits: number }[] {
  const out = [];
  for (let h = 0; h <= maxBits; h++) out.push({ value: decode(h), bits: h });
  return out;
}

const F16_TABLE = positiveTable(decodeF16, 0x7bff);
const BF16_TABLE = positiveTable(decodeBf16, 0x7f7f);

function randomF32(seed: number, n: number): Float32Array {
  const bits = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bits[i] = s >>> 0;
  }
  return new Float32Array(bits.buffer);
}

function edgeCases(): Float32Array {
  const xs = [
    0,
    -0,
    1,
    -1,
    1.5,
    65504,
    65519.99,
    65520,
    65536,
    1e-8,
    2 ** -24,
    2 ** -25,
    3 * 2 ** -26,
    2 ** -14,
    6.1e-5,
  ];
  const bf = [3.3895314e38, 3.4e38, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1e-40, 1.17549435e-38];
  return new Float32Array([...xs, ...bf, ...xs.map((x) => -x)]);
}

describe("F32 → BF16 (round to nearest even)", () => {
  it("matches an exhaustive nearest-value search on random and edge values", () => {
    const values = new Float32Array([...randomF32(7, 20000), ...edgeCases()]);
    const got = f32ToBf16(values);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (Number.isNaN(x)) continue;
      // The exponent range of BF16 equals F32's, so only values past the largest finite BF16 overflow.
      const want = nearest(x, BF16_TABLE, decodeBf16(0x7f7f), 2 ** 127 * 2 ** -8, 0x7f80);
      if (got[i] !== want)
        throw new Error(`x=${x}: got 0x${got[i]!.toString(16)}, want 0x${want.toString(16)}`);
    }
  });

  it("keeps NaN a NaN (payload's top bits, quiet bit set when truncation would make Inf) and Inf", () => {
    const bits = new Uint32Array([0x7fc00000, 0xffc00001, 0x7f800001, 0x7f800000, 0xff800000]);
    const out = f32ToBf16(new Float32Array(bits.buffer));
    expect([...out].map((h) => h.toString(16))).toEqual(["7fc0", "ffc0", "7fc0", "7f80", "ff80"]);
    expect(Number.isNaN(bf16ToF32(out)[2]!)).toBe(true);
  });

  it("BF16 → F32 is exact for every pattern", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = bf16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      const want = decodeBf16(h);
      if (Number.isNaN(want)) expect(Number.isNaN(f[h]!)).toBe(true);
      else if (f[h] !== want) throw new Error(`0x${h.toString(16)}: ${f[h]} vs ${want}`);
    }
  });

  it("in-place rounding equals encode-then-decode, and scalar rounding of 0.3 is 0.30078125", () => {
    const values = randomF32(99, 5000);
    const viaBits = bf16ToF32(f32ToBf16(values));
    const inPlace = roundToBf16InPlace(values.slice());
    for (let i = 0; i < values.length; i++) {
      if (!Number.isNaN(viaBits[i]!)) expect(inPlace[i]).toBe(viaBits[i]);
    }
    expect(roundScalarToBf16(0.3)).toBe(0.30078125);
  });
});

describe("F32 ↔ F16", () => {
  it("matches an exhaustive nearest-value search, including subnormals and overflow", () => {
    const random = randomF32(3, 20000).map((x) => x / 2 ** 100); // bring many into F16 range
    const scaled = randomF32(5, 20000).map((x) => (Number.isFinite(x) ? x % 70000 : x));
    const values = new Float32Array([...random, ...scaled, ...edgeCases()]);
    const got = f32ToF16(values);
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (Number.isNaN(x) || !Number.isFinite(x)) continue;
      const want = nearest(x, F16_TABLE, 65504, 16, 0x7c00);
      if (got[i] !== want)
        throw new Error(`x=${x}: got 0x${got[i]!.toString(16)}, want 0x${want.toString(16)}`);
    }
  });

  it("decodes every pattern exactly and keeps NaN/Inf", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = f16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      const want = decodeF16(h);
      if (Number.isNaN(want)) expect(Number.isNaN(f[h]!)).toBe(true);
      else if (f[h] !== want) throw new Error(`0x${h.toString(16)}: ${f[h]} vs ${want}`);
    }
    const special = f32ToF16(
      new Float32Array([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e6]),
    );
    expect((special[0]! & 0x7c00) === 0x7c00 && (special[0]! & 0x3ff) !== 0).toBe(true);
    expect([...special.slice(1)]).toEqual([0x7c00, 0xfc00, 0x7c00]);
  });

  it("round-trips every finite F16 value through F32 unchanged", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) !== 0x7c00 && back[h] !== h)
        throw new Error(`0x${h.toString(16)} → 0x${back[h]!.toString(16)}`);
    }
    const values = randomF32(11, 3000).map((x) => x / 2 ** 110);
    const rounded = roundToF16InPlace(values.slice());
    expect([...rounded]).toEqual([...f16ToF32(f32ToF16(values))]);
  });
});
