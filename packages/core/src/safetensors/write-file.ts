/**
 * Write named in-memory tensors to one safetensors file at a path or URI (a local path, file://, or s3://):
 * what CLIs that dump tensors for a user's own checks (`lethe-model forward`, `lethe-train grad`) need.
 */
import { openStore, type StoreOptions } from "../store/open.js";
import type { DType } from "../tensor/dtype.js";
import { SafetensorsWriter } from "./writer.js";

export interface NamedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
}

export async function writeSafetensorsFile(
  out: string,
  tensors: readonly NamedTensor[],
  metadata: Record<string, string> | null = null,
  options: StoreOptions = {},
): Promise<void> {
  const slash = out.lastIndexOf("/");
  const dir = slash < 0 ? "." : out.slice(0, slash) || "/";
  const key = slash < 0 ? out : out.slice(slash + 1);
  const sink = openStore(dir, options).createWriter(key);
  const writer = new SafetensorsWriter(sink, tensors, { metadata, source: out });
  try {
    const byName = new Map(tensors.map((t) => [t.name, t.data]));
    for (const name of writer.order) {
      const data = byName.get(name)!;
      await writer.writeTensor(name, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
