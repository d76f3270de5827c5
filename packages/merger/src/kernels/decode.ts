/**
 * Reading tensor bytes as values of the working dtype, a block at a time: mergekit casts every input to
 * W on load (`tensor.to(dtype)`), so a value is decoded and rounded to W once, here. 16-bit inputs go
 * through a 65536-entry table per (input dtype, W); f32 and f64 are rounded element by element.
 */
import {
  encodeFromFloat32,
  type FloatDType,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  roundToBf16InPlace,
  roundToF16InPlace,
} from "@lethe/core";
import type { WorkingDType } from "../working-dtype.js";

/** A tensor's raw little-endian bytes; the buffer may be shared between threads. */
export interface RawTensor {
  dtype: FloatDType;
  bytes: Uint8Array;
}

const tables = new Map<string, Float32Array>();

/** value-in-W of every 16-bit pattern of `dtype`. */
export function decodeTable(dtype: "BF16" | "F16", working: WorkingDType): Float32Array {
  const id = `${dtype}>${working}`;
  let table = tables.get(id);
  if (!table) {
    const bits = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) bits[i] = i;
    table = new Float32Array(65536);
    if (dtype === "BF16") new Uint32Array(table.buffer).set(Array.from(bits, (b) => b << 16));
    else f16ToF32(bits, table);
    if (working === "BF16" && dtype !== "BF16") roundToBf16InPlace(table);
    if (working === "F16" && dtype !== "F16") roundToF16InPlace(table);
    tables.set(id, table);
  }
  return table;
}

/** Views of a raw tensor, made once per block job. */
export interface DecodableTensor {
  dtype: FloatDType;
  u16: Uint16Array | null;
  f32: Float32Array | null;
  f64: Float64Array | null;
  table: Float32Array | null;
  working: WorkingDType;
}

export function decodable(raw: RawTensor, working: WorkingDType): DecodableTensor {
  const { bytes, dtype } = raw;
  const view = <T>(size: number, make: (b: ArrayBufferLike, o: number, n: number) => T): T => {
    if (bytes.byteOffset % size !== 0) throw new Error(`internal: unaligned ${dtype} tensor bytes`);
    return make(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  };
  return {
    dtype,
    working,
    u16: dtype === "BF16" || dtype === "F16" ? view(2, (b, o, n) => new Uint16Array(b, o, n)) : null,
    f32: dtype === "F32" ? view(4, (b, o, n) => new Float32Array(b, o, n)) : null,
    f64: dtype === "F64" ? view(8, (b, o, n) => new Float64Array(b, o, n)) : null,
    table: dtype === "BF16" || dtype === "F16" ? decodeTable(dtype, working) : null,
  };
}

/** Values [start, start + count) cast to W, into dst[0..count). */
export function decodeRange(src: DecodableTensor, start: number, count: number, dst: Float32Array): void {
  if (src.u16) {
    const table = src.table!;
    const u16 = src.u16;
    for (let j = 0; j < count; j++) dst[j] = table[u16[start + j]!]!;
    return;
  }
  if (src.f32) dst.set(src.f32.subarray(start, start + count));
  else {
    const f64 = src.f64!;
    for (let j = 0; j < count; j++) dst[j] = f64[start + j]!;
  }
  const values = count === dst.length ? dst : dst.subarray(0, count);
  if (src.working === "BF16") roundToBf16InPlace(values);
  else if (src.working === "F16") roundToF16InPlace(values);
}

/** Encode values (already representable in W) as `dtype` bytes into dst at element offset `start`. */
export function encodeRange(
  values: Float32Array,
  count: number,
  dtype: FloatDType,
  dst: Uint8Array,
  start: number,
): void {
  const part = count === values.length ? values : values.subarray(0, count);
  switch (dtype) {
    case "BF16": {
      const out = new Uint16Array(dst.buffer, dst.byteOffset + start * 2, count);
      f32ToBf16(part, out);
      return;
    }
    case "F16": {
      const out = new Uint16Array(dst.buffer, dst.byteOffset + start * 2, count);
      f32ToF16(part, out);
      return;
    }
    case "F32":
      new Float32Array(dst.buffer, dst.byteOffset + start * 4, count).set(part);
      return;
    case "F64":
      dst.set(encodeFromFloat32(part, "F64"), start * 8);
      return;
  }
}
