/**
 * Streaming safetensors writer: the header goes first (every size is known up front), then each tensor in
 * header order, so a model is never held in memory. Offsets follow the reference writer: tensors sorted by
 * dtype alignment (descending), then name; header padded with spaces to 8 bytes.
 */
import { FormatError } from "../errors.js";
import type { ByteSink } from "../store/types.js";
import { byteLength, type DType, dtypeBits } from "../tensor/dtype.js";
import { numel } from "../tensor/tensor.js";
import { encodeHeader, type TensorEntry } from "./header.js";

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

export type TensorBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** The reference order: larger alignment first, then by name. */
export function referenceOrder<T extends TensorSpec>(specs: readonly T[]): T[] {
  return [...specs].sort(
    (a, b) => dtypeBits(b.dtype) - dtypeBits(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** Assign back-to-back offsets to specs in the given order. */
export function layoutEntries(specs: readonly TensorSpec[], source: string): TensorEntry[] {
  const seen = new Set<string>();
  let offset = 0;
  return specs.map((s) => {
    if (seen.has(s.name)) throw new FormatError(`${source}: tensor "${s.name}" given twice`);
    seen.add(s.name);
    const bytes = byteLength(s.dtype, numel(s.shape));
    if (bytes === null) throw new FormatError(`${source}: tensor "${s.name}": not a whole number of bytes`);
    const entry = { name: s.name, dtype: s.dtype, shape: [...s.shape], begin: offset, end: offset + bytes };
    offset += bytes;
    return entry;
  });
}

export class SafetensorsWriter {
  readonly entries: TensorEntry[];
  private next = 0;
  private started = false;

  /**
   * @param order "reference" sorts as the reference writer does; "given" keeps the caller's order.
   */
  constructor(
    private readonly sink: ByteSink,
    specs: readonly TensorSpec[],
    private readonly options: {
      metadata?: Record<string, string> | null;
      order?: "reference" | "given";
      source?: string;
    } = {},
  ) {
    const ordered = options.order === "given" ? [...specs] : referenceOrder(specs);
    this.entries = layoutEntries(ordered, this.source);
  }

  private get source(): string {
    return this.options.source ?? "safetensors writer";
  }

  /** Names in the order `writeTensor` must be called. */
  get order(): string[] {
    return this.entries.map((e) => e.name);
  }

  get totalBytes(): number {
    return this.headerBytes().byteLength + (this.entries.at(-1)?.end ?? 0);
  }

  private headerBytes(): Uint8Array {
    return encodeHeader(this.entries, this.options.metadata ?? null);
  }

  async writeTensor(name: string, data: TensorBytes): Promise<void> {
    const entry = this.entries[this.next];
    if (!entry) throw new FormatError(`${this.source}: tensor "${name}" written after all tensors`);
    if (entry.name !== name) {
      throw new FormatError(
        `${this.source}: tensor "${name}" written out of order; expected "${entry.name}" next`,
      );
    }
    if (!this.started) {
      this.started = true;
      await this.sink.write(this.headerBytes());
    }
    const expected = entry.end - entry.begin;
    let written = 0;
    for await (const chunk of chunksOf(data)) {
      written += chunk.byteLength;
      if (written > expected) break;
      await this.sink.write(chunk);
    }
    if (written !== expected) {
      throw new FormatError(
        `${this.source}: tensor "${name}": got ${written > expected ? "more than" : "only"} ${written} bytes, ${entry.dtype}[${entry.shape}] needs ${expected}`,
      );
    }
    this.next++;
  }

  /** Checks every tensor was written, then closes the sink (which publishes the file). */
  async finish(): Promise<void> {
    if (!this.started) {
      this.started = true;
      await this.sink.write(this.headerBytes());
    }
    const missing = this.entries[this.next];
    if (missing) {
      await this.sink.abort();
      throw new FormatError(`${this.source}: finished before tensor "${missing.name}" was written`);
    }
    await this.sink.close();
  }

  async abort(): Promise<void> {
    await this.sink.abort();
  }
}

async function* chunksOf(data: TensorBytes): AsyncIterable<Uint8Array> {
  if (data instanceof Uint8Array) {
    yield data;
    return;
  }
  yield* data as AsyncIterable<Uint8Array>;
}
