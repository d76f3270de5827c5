/**
 * Bulk float conversions between F32 and the 16-bit formats, round-to-nearest-even, NaN and Inf kept.
 * Everything works on typed arrays in one pass; there are no per-element objects.
 */

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** BF16 bits → F32: the 16 bits are the top half of the float. Exact. */
export function bf16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return dst;
}

/** One F32 bit pattern → BF16 bits, round to nearest even; NaNs stay NaN (quiet bit set if needed). */
export function f32BitsToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    dst[i] =
      (u & 0x7fffffff) > 0x7f800000
        ? ((u >>> 16) | 0x0040) & 0xffff
        : ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return dst;
}

/** One F32 bit pattern → F16 bits, round to nearest even, with subnormals, overflow to ±Inf, NaN kept. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7c00 | 0x0200 | (mant >>> 13);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++;
  return sign | r;
}

export function f32ToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = f32BitsToF16(bits[i]!);
  return dst;
}

let f16Table: Float32Array | null = null;

/** All 65536 F16 values as F32, built once: conversion is then one table lookup per element. */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = f16BitsToF32(h);
  f16Table = table;
  return table;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) {
    if (mant === 0) return sign * Infinity;
    // Keep the payload: F16 NaN mantissa goes to the top of the F32 mantissa.
    u32Scratch[0] = ((h & 0x8000) << 16) | 0x7f800000 | (mant << 13);
    return f32Scratch[0]!;
  }
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function f16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = f16ToF32Table();
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]!]!;
  return dst;
}

/** Round every F32 value to the nearest BF16 value, in place: "compute in F32, round once". */
export function roundToBf16InPlace(values: Float32Array): Float32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    bits[i] =
      (u & 0x7fffffff) > 0x7f800000
        ? (u | 0x00400000) & 0xffff0000
        : (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
  }
  return values;
}

/** Round every F32 value to the nearest F16 value, in place. */
export function roundToF16InPlace(values: Float32Array): Float32Array {
  const table = f16ToF32Table();
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) values[i] = table[f32BitsToF16(bits[i]!)]!;
  return values;
}

/** Round one number to BF16 and return it as a number (for scalars such as merge weights). */
export function roundScalarToBf16(x: number): number {
  f32Scratch[0] = x;
  u32Scratch[0] = f32BitsToBf16(u32Scratch[0]!) << 16;
  return f32Scratch[0]!;
}

export function roundScalarToF16(x: number): number {
  f32Scratch[0] = x;
  return f16BitsToF32(f32BitsToF16(u32Scratch[0]!));
}
