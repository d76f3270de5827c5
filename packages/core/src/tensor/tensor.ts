import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./convert.js";
import { byteLength, type DType, type FloatDType, isFloatDType } from "./dtype.js";

/**
 * A tensor is its dtype, its shape and its raw little-endian, row-major bytes, exactly as safetensors
 * stores them. Views as numbers are made on demand.
 */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function expectedByteLength(dtype: DType, shape: readonly number[]): number {
  const bytes = byteLength(dtype, numel(shape));
  if (bytes === null) throw new Error(`${numel(shape)} elements of ${dtype} are not a whole number of bytes`);
  return bytes;
}

/** A typed-array view of `bytes`, copying only when the offset is not aligned for the element size. */
function aligned<T>(
  bytes: Uint8Array,
  size: number,
  make: (buf: ArrayBufferLike, off: number, len: number) => T,
): T {
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  return make(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}

export function asUint16(bytes: Uint8Array): Uint16Array {
  return aligned(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
}

export function asFloat32(bytes: Uint8Array): Float32Array {
  return aligned(bytes, 4, (b, o, n) => new Float32Array(b, o, n));
}

export function asFloat64(bytes: Uint8Array): Float64Array {
  return aligned(bytes, 8, (b, o, n) => new Float64Array(b, o, n));
}

export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Decode float bytes of `dtype` into F32 values (a fresh array unless `dst` is given). */
export function decodeToFloat32(bytes: Uint8Array, dtype: FloatDType, dst?: Float32Array): Float32Array {
  switch (dtype) {
    case "F32": {
      const src = asFloat32(bytes);
      if (!dst) return src.byteOffset === bytes.byteOffset && src.buffer === bytes.buffer ? src.slice() : src;
      dst.set(src);
      return dst;
    }
    case "BF16":
      return bf16ToF32(asUint16(bytes), dst);
    case "F16":
      return f16ToF32(asUint16(bytes), dst);
    case "F64": {
      const out = dst ?? new Float32Array(bytes.byteLength / 8);
      out.set(asFloat64(bytes));
      return out;
    }
  }
}

/** Encode F32 values as bytes of `dtype` (round to nearest even for the 16-bit types). */
export function encodeFromFloat32(values: Float32Array, dtype: FloatDType): Uint8Array {
  switch (dtype) {
    case "F32":
      return bytesOf(values);
    case "BF16":
      return bytesOf(f32ToBf16(values));
    case "F16":
      return bytesOf(f32ToF16(values));
    case "F64":
      return bytesOf(Float64Array.from(values));
  }
}

export function tensorToFloat32(tensor: Tensor, name = "tensor"): Float32Array {
  if (!isFloatDType(tensor.dtype)) throw new Error(`${name}: dtype ${tensor.dtype} is not a float type`);
  return decodeToFloat32(tensor.data, tensor.dtype);
}

export function tensorFromFloat32(values: Float32Array, shape: number[], dtype: FloatDType): Tensor {
  if (values.length !== numel(shape)) {
    throw new Error(`tensor of shape [${shape}] needs ${numel(shape)} values, got ${values.length}`);
  }
  return { dtype, shape, data: encodeFromFloat32(values, dtype) };
}
