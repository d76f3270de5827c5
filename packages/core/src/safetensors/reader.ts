/** Read tensors from one safetensors file in any store, one tensor at a time (file ranges, S3 ranged GETs). */
import { FormatError, NotFoundError } from "../errors.js";
import type { Store } from "../store/types.js";
import type { Tensor } from "../tensor/tensor.js";
import { parseHeader, readHeaderSize, type SafetensorsHeader, type TensorEntry } from "./header.js";

/** Bytes read with the first request: most headers fit, so opening costs one round trip. */
const HEADER_PROBE_BYTES = 256 * 1024;

export class SafetensorsFile {
  private constructor(
    readonly store: Store,
    readonly key: string,
    readonly source: string,
    readonly header: SafetensorsHeader,
    readonly fileSize: number,
  ) {}

  static async open(store: Store, key: string): Promise<SafetensorsFile> {
    const source = joinSource(store.uri, key);
    const info = await store.head(key);
    if (!info) throw new NotFoundError(`${source}: no such file`);
    const probe = await store.getRange(key, { start: 0, end: Math.min(info.size, HEADER_PROBE_BYTES) });
    const n = readHeaderSize(probe, info.size, source);
    const json =
      8 + n <= probe.byteLength
        ? probe.subarray(8, 8 + n)
        : await store.getRange(key, { start: 8, end: 8 + n });
    return new SafetensorsFile(store, key, source, parseHeader(json, info.size, source), info.size);
  }

  get tensors(): readonly TensorEntry[] {
    return this.header.tensors;
  }

  get metadata(): Record<string, string> | null {
    return this.header.metadata;
  }

  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.header.byName.has(name);
  }

  entry(name: string): TensorEntry {
    const entry = this.header.byName.get(name);
    if (!entry) throw new NotFoundError(`${this.source}: no tensor "${name}"`);
    return entry;
  }

  /** The raw bytes of a tensor, or of the byte range [start, end) within it. */
  async readBytes(name: string, range?: { start: number; end: number }): Promise<Uint8Array> {
    const entry = this.entry(name);
    const size = entry.end - entry.begin;
    const start = range?.start ?? 0;
    const end = range?.end ?? size;
    if (start < 0 || end > size || start > end) {
      throw new FormatError(
        `${this.source}: tensor "${name}": byte range [${start}, ${end}) outside [0, ${size})`,
      );
    }
    const base = this.header.dataStart + entry.begin;
    const bytes = await this.store.getRange(this.key, { start: base + start, end: base + end });
    if (bytes.byteLength !== end - start) {
      throw new FormatError(
        `${this.source}: tensor "${name}": read ${bytes.byteLength} of ${end - start} bytes (file changed?)`,
      );
    }
    return bytes;
  }

  async readTensor(name: string): Promise<Tensor> {
    const entry = this.entry(name);
    return { dtype: entry.dtype, shape: [...entry.shape], data: await this.readBytes(name) };
  }

  /**
   * Several tensors (default: all) with as few reads as possible: tensors adjacent in the file are read as one
   * span of at most `maxSpanBytes` and handed out as views of it. One large read instead of many also spares
   * V8 a full GC per tensor-sized allocation.
   */
  async readTensors(
    names?: readonly string[],
    options: { maxSpanBytes?: number } = {},
  ): Promise<Map<string, Tensor>> {
    const maxSpan = options.maxSpanBytes ?? 1 << 30;
    const entries = (names ? names.map((n) => this.entry(n)) : [...this.header.tensors]).sort(
      (a, b) => a.begin - b.begin,
    );
    const out = new Map<string, Tensor>();
    let i = 0;
    while (i < entries.length) {
      const first = entries[i]!;
      let j = i + 1;
      while (
        j < entries.length &&
        entries[j]!.begin === entries[j - 1]!.end &&
        entries[j]!.end - first.begin <= maxSpan
      )
        j++;
      const last = entries[j - 1]!;
      const base = this.header.dataStart;
      const span = await this.store.getRange(this.key, { start: base + first.begin, end: base + last.end });
      if (span.byteLength !== last.end - first.begin) {
        throw new FormatError(
          `${this.source}: read ${span.byteLength} of ${last.end - first.begin} bytes (file changed?)`,
        );
      }
      for (const e of entries.slice(i, j)) {
        const data = span.subarray(e.begin - first.begin, e.end - first.begin);
        out.set(e.name, { dtype: e.dtype, shape: [...e.shape], data });
      }
      i = j;
    }
    return out;
  }
}

export function joinSource(uri: string, key: string): string {
  return key === "" ? uri : `${uri.replace(/\/+$/, "")}/${key}`;
}
