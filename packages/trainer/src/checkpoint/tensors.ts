/** Small checks and conversions shared by the writers and the reader. */
import { FormatError, numel, type Tensor } from "@lethe/core";
import type { TrainedTensor } from "./types.js";

/** The master's length must match its shape; the error names the tensor and the file it was going to. */
export function checkTensor(p: TrainedTensor, file: string): void {
  if (p.value.length !== numel(p.shape)) {
    throw new FormatError(
      `${file}: tensor "${p.name}" has ${p.value.length} values, its shape [${p.shape}] needs ${numel(p.shape)}`,
    );
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A fresh f32 array holding an F32 tensor's values bit for bit (any alignment). */
export function f32Copy(t: Tensor, source: string, name: string): Float32Array {
  if (t.dtype !== "F32") throw new FormatError(`${source}: tensor "${name}" is ${t.dtype}, expected F32`);
  const out = new Float32Array(t.data.byteLength / 4);
  new Uint8Array(out.buffer).set(t.data);
  return out;
}
