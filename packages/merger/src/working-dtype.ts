/**
 * The working dtype W: the type mergekit does its arithmetic in (the config `dtype`, else the base's dtype).
 * A torch op on bf16/f16 tensors on CPU equals "compute in f32, round once to W (round to nearest even)",
 * so emulating it means rounding after every op boundary listed in merging.md §1.3. Values are kept as
 * JavaScript numbers / Float32Array entries that are exactly representable in W.
 */
import {
  type FloatDType,
  f16BitsToF32,
  f32BitsToBf16,
  f32BitsToF16,
  roundToBf16InPlace,
  roundToF16InPlace,
} from "@lethe/core";

export type WorkingDType = "BF16" | "F16" | "F32";

/** How intermediate results are rounded: after every op in W (mergekit), or only in f32 (paper, peft). */
export type Arithmetic = "per-op" | "f32";

export type Round = (v: number) => number;

export function toWorkingDType(dtype: FloatDType, what: string): WorkingDType {
  if (dtype === "F64") {
    throw new Error(`${what}: float64 is not supported as a working dtype; use float32`);
  }
  return dtype;
}

const BF16_SPLIT = 2 ** 45 + 1; // Veltkamp: keep 53 - 45 = 8 significant bits
const F16_SPLIT = 2 ** 42 + 1; // keep 11 bits
const BF16_MIN_NORMAL = 2 ** -126;
const F16_MIN_NORMAL = 2 ** -14;
// Adding then subtracting 1.5·2^(e+52) rounds |v| < 2^e to the grid of spacing 2^(e-52)... chosen so the
// grid is the subnormal spacing of the target type (2^-133 for bf16, 2^-24 for f16).
const BF16_SUBNORMAL_MAGIC = 1.5 * 2 ** (-133 + 52);
const F16_SUBNORMAL_MAGIC = 1.5 * 2 ** (-24 + 52);
const F16_MAX = 65504;

/**
 * Round a number to the nearest bf16 value (ties to even) after first rounding it to f32, i.e. what a
 * torch bf16 op returns for an exact result `v`. Pure arithmetic (Veltkamp splitting), no memory traffic;
 * subnormals, overflow to ±Inf, NaN and signed zeros are handled like the bit-level conversion.
 */
export function roundBf16(v: number): number {
  const f = Math.fround(v);
  const a = Math.abs(f);
  if (a < BF16_MIN_NORMAL) {
    if (a === 0) return f;
    const r = a + BF16_SUBNORMAL_MAGIC - BF16_SUBNORMAL_MAGIC;
    return f < 0 ? -r : r;
  }
  const c = f * BF16_SPLIT;
  const r = c - (c - f);
  return Number.isNaN(r) ? f : Math.fround(r); // NaN from ±Inf inputs: keep the input (Inf or NaN)
}

/** Round to the nearest f16 value (ties to even) after rounding to f32. */
export function roundF16(v: number): number {
  const f = Math.fround(v);
  const a = Math.abs(f);
  if (a < F16_MIN_NORMAL) {
    if (a === 0) return f;
    const r = a + F16_SUBNORMAL_MAGIC - F16_SUBNORMAL_MAGIC;
    return f < 0 ? -r : r;
  }
  const c = f * F16_SPLIT;
  const r = c - (c - f);
  if (Number.isNaN(r)) return f;
  return Math.abs(r) > F16_MAX ? (r > 0 ? Infinity : -Infinity) : r;
}

export const roundF32: Round = Math.fround;

export function rounderFor(dtype: WorkingDType): Round {
  switch (dtype) {
    case "BF16":
      return roundBf16;
    case "F16":
      return roundF16;
    case "F32":
      return roundF32;
  }
}

/** The rounding applied between ops: W's for mergekit arithmetic, f32's otherwise. */
export function opRounder(dtype: WorkingDType, arithmetic: Arithmetic): Round {
  return arithmetic === "per-op" ? rounderFor(dtype) : roundF32;
}

export function roundArrayInPlace(values: Float32Array, dtype: WorkingDType): Float32Array {
  if (dtype === "BF16") return roundToBf16InPlace(values);
  if (dtype === "F16") return roundToF16InPlace(values);
  return values;
}

/**
 * A scalar made into a tensor of W (`torch.tensor([w], dtype=W)`), as mergekit does with weights: 0.3
 * becomes 0.30078125 in bf16.
 */
export function scalarIn(dtype: WorkingDType, x: number): number {
  return rounderFor(dtype)(x);
}

/** The 16-bit pattern of a value already representable in bf16 / f16. */
export function bf16Bits(v: number): number {
  return f32BitsToBf16(f32Bits(v));
}

export function f16Bits(v: number): number {
  return f32BitsToF16(f32Bits(v));
}

export function f16Value(bits: number): number {
  return f16BitsToF32(bits);
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

export function f32Bits(v: number): number {
  scratch[0] = v;
  return scratchBits[0]!;
}

export function fromF32Bits(bits: number): number {
  scratchBits[0] = bits;
  return scratch[0]!;
}
