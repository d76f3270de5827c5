/** Reading one planned tensor's inputs into shared memory, cropping or padding embeddings to the output. */
import { type DType, decodeToFloat32, type FloatDType } from "@lethe/core";
import { shapeNumel } from "./engine/tensor-job.js";
import type { RawTensor } from "./kernels/decode.js";
import type { PlannedInput, PlannedTensor } from "./plan.js";
import type { ModelSource } from "./sources.js";

const ELEMENT_BYTES: Partial<Record<DType, number>> = {
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
};

export function bytesOf(dtype: DType, shape: readonly number[]): number {
  return shapeNumel(shape) * (ELEMENT_BYTES[dtype] ?? 1);
}

export interface LoadedTensor {
  base: RawTensor | null;
  models: RawTensor[];
}

/** Crop and/or pad a 2-D input to `to`; padded entries come from `fill` (the base), so their delta is 0. */
export function resize(
  input: RawTensor & { shape: number[] },
  to: readonly number[],
  fill: RawTensor | null,
  allocate: (n: number) => Uint8Array,
): RawTensor {
  const [rows, cols] = input.shape as [number, number];
  const [outRows, outCols] = to as [number, number];
  if (outRows <= rows && outCols <= cols) {
    const size = ELEMENT_BYTES[input.dtype]!;
    const bytes = allocate(outRows * outCols * size);
    for (let r = 0; r < outRows; r++) {
      bytes.set(input.bytes.subarray(r * cols * size, (r * cols + outCols) * size), r * outCols * size);
    }
    return { dtype: input.dtype, bytes };
  }
  if (!fill) throw new Error("internal: padding an input without a base");
  const values = decodeToFloat32(input.bytes, input.dtype);
  const base = decodeToFloat32(fill.bytes, fill.dtype);
  const bytes = allocate(outRows * outCols * 4);
  const out = new Float32Array(bytes.buffer, bytes.byteOffset, outRows * outCols);
  for (let r = 0; r < outRows; r++) {
    for (let c = 0; c < outCols; c++) {
      out[r * outCols + c] = r < rows && c < cols ? values[r * cols + c]! : base[r * outCols + c]!;
    }
  }
  return { dtype: "F32", bytes };
}

async function read(
  input: PlannedInput,
  sources: readonly ModelSource[],
  allocate: (bytes: number) => Uint8Array,
) {
  const bytes = allocate(bytesOf(input.dtype, input.shape));
  await sources[input.source]!.readInto(input.name, bytes);
  return { dtype: input.dtype as FloatDType, bytes, shape: input.shape };
}

/** The inputs of a planned tensor, in memory from `allocate` (the caller gives it back when done). */
export async function loadTensor(
  t: PlannedTensor,
  sources: readonly ModelSource[],
  allocate: (bytes: number) => Uint8Array,
): Promise<LoadedTensor> {
  const base = t.base ? await read(t.base, sources, allocate) : null;
  const models = await Promise.all(
    t.inputs.map(async (input) => {
      const r = await read(input, sources, allocate);
      return input.resized ? resize(r, t.shape, base, allocate) : r;
    }),
  );
  return { base, models };
}
