/**
 * Model weights as Hugging Face lays them out: one `model.safetensors`, or shards
 * `model-0000K-of-0000N.safetensors` listed by `model.safetensors.index.json`.
 */
import { z } from "zod";
import { FormatError, NotFoundError } from "../errors.js";
import type { Store } from "../store/types.js";
import { dtypeBits } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import type { TensorEntry } from "./header.js";
import { joinSource, SafetensorsFile } from "./reader.js";
import {
  layoutEntries,
  referenceOrder,
  SafetensorsWriter,
  type TensorBytes,
  type TensorSpec,
} from "./writer.js";

export const WEIGHTS_FILE = "model.safetensors";
export const WEIGHTS_INDEX_FILE = "model.safetensors.index.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

export const ShardIndexSchema = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string()),
});
export type ShardIndex = z.infer<typeof ShardIndexSchema>;

export function shardName(k: number, n: number, stem = "model"): string {
  return `${stem}-${String(k).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
}

/** Reads tensors by name across one file or many shards; shards are opened on first use. */
export class WeightsReader {
  private readonly files = new Map<string, Promise<SafetensorsFile>>();

  private constructor(
    readonly store: Store,
    /** Tensor name → file key. */
    private readonly location: Map<string, string>,
    opened: Map<string, SafetensorsFile>,
    readonly indexKey: string | null,
  ) {
    for (const [key, file] of opened) this.files.set(key, Promise.resolve(file));
  }

  /**
   * Opens `model.safetensors.index.json` if present, else `model.safetensors`. With `{file}`, opens that single
   * file (e.g. `adapter_model.safetensors`).
   */
  static async open(store: Store, options: { file?: string } = {}): Promise<WeightsReader> {
    if (options.file === undefined && (await store.head(WEIGHTS_INDEX_FILE))) {
      return WeightsReader.openIndex(store, WEIGHTS_INDEX_FILE);
    }
    const key = options.file ?? WEIGHTS_FILE;
    const file = await SafetensorsFile.open(store, key);
    return new WeightsReader(store, new Map(file.names().map((n) => [n, key])), new Map([[key, file]]), null);
  }

  /** True when the store holds model weights (single file or index). */
  static async exists(store: Store): Promise<boolean> {
    return (await store.head(WEIGHTS_INDEX_FILE)) !== null || (await store.head(WEIGHTS_FILE)) !== null;
  }

  static async openIndex(store: Store, indexKey: string): Promise<WeightsReader> {
    const source = joinSource(store.uri, indexKey);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(await store.get(indexKey)));
    } catch (err) {
      throw new FormatError(`${source}: not valid JSON (${(err as Error).message})`);
    }
    const parsed = ShardIndexSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new FormatError(`${source}: field "${issue.path.join(".")}": ${issue.message}`);
    }
    const location = new Map(Object.entries(parsed.data.weight_map));
    for (const file of new Set(location.values())) {
      if (file.includes("..") || file.startsWith("/"))
        throw new FormatError(`${source}: shard "${file}" escapes the checkpoint`);
      if (!(await store.head(file)))
        throw new NotFoundError(`${source}: lists shard "${file}", which does not exist`);
    }
    return new WeightsReader(store, location, new Map(), indexKey);
  }

  names(): string[] {
    return [...this.location.keys()];
  }

  has(name: string): boolean {
    return this.location.has(name);
  }

  /** The file keys holding the weights. */
  fileKeys(): string[] {
    return [...new Set(this.location.values())];
  }

  private fileFor(name: string): Promise<SafetensorsFile> {
    const key = this.location.get(name);
    if (key === undefined) throw new NotFoundError(`${this.store.uri}: no tensor "${name}" in the weights`);
    let file = this.files.get(key);
    if (!file) {
      file = SafetensorsFile.open(this.store, key);
      this.files.set(key, file);
    }
    return file;
  }

  async entry(name: string): Promise<TensorEntry & { file: string }> {
    const file = await this.fileFor(name);
    if (!file.has(name)) {
      throw new FormatError(
        `${joinSource(this.store.uri, this.indexKey ?? "")}: maps "${name}" to ${file.key}, which lacks it`,
      );
    }
    return { ...file.entry(name), file: file.key };
  }

  async readTensor(name: string): Promise<Tensor> {
    const file = await this.fileFor(name);
    if (!file.has(name)) await this.entry(name);
    return file.readTensor(name);
  }

  async readBytes(name: string, range?: { start: number; end: number }): Promise<Uint8Array> {
    const file = await this.fileFor(name);
    if (!file.has(name)) await this.entry(name);
    return file.readBytes(name, range);
  }

  /** Opens every file and checks the index against the shards' own headers. */
  async validate(): Promise<void> {
    for (const name of this.location.keys()) await this.entry(name);
    if (this.indexKey) {
      for (const key of this.fileKeys()) {
        const file = await this.fileFor(this.names().find((n) => this.location.get(n) === key)!);
        for (const t of file.names()) {
          if (this.location.get(t) !== key) {
            throw new FormatError(
              `${joinSource(this.store.uri, key)}: tensor "${t}" is not listed for this shard in ${this.indexKey}`,
            );
          }
        }
      }
    }
  }

  close(): void {
    this.files.clear();
  }
}

export interface ShardedWriterOptions {
  /** Largest shard in bytes of tensor data; one shard if absent. A tensor larger than this gets a shard alone. */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
  /** File name for a single-file result (default `model.safetensors`). */
  singleFile?: string;
  /** Extra keys for the index's `metadata` (total_size is always written). */
  indexMetadata?: Record<string, unknown>;
}

interface PlannedShard {
  key: string;
  specs: TensorSpec[];
}

/**
 * Writes a model's tensors into shards planned up front (sizes are known), each streamed through its own
 * safetensors writer. Call `writeTensor` in `order`, then `finish` (which writes the index if sharded).
 */
export class ShardedWeightsWriter {
  private current: { writer: SafetensorsWriter; shard: number } | null = null;
  private written = 0;

  private constructor(
    private readonly store: Store,
    private readonly shards: PlannedShard[],
    private readonly options: ShardedWriterOptions,
  ) {}

  static create(
    store: Store,
    specs: readonly TensorSpec[],
    options: ShardedWriterOptions = {},
  ): ShardedWeightsWriter {
    const ordered = referenceOrder(specs);
    layoutEntries(ordered, store.uri); // rejects duplicates and sub-byte sizes early
    const groups: TensorSpec[][] = [];
    let size = 0;
    for (const spec of ordered) {
      const bytes = (spec.shape.reduce((a, b) => a * b, 1) * dtypeBits(spec.dtype)) / 8;
      const last = groups.at(-1);
      if (
        !last ||
        (options.maxShardBytes !== undefined && size + bytes > options.maxShardBytes && last.length > 0)
      ) {
        groups.push([spec]);
        size = bytes;
      } else {
        last.push(spec);
        size += bytes;
      }
    }
    if (groups.length === 0) groups.push([]);
    const single = options.singleFile ?? WEIGHTS_FILE;
    const stem = single.replace(/\.safetensors$/, "");
    const shards = groups.map((g, i) => ({
      key: groups.length === 1 ? single : shardName(i + 1, groups.length, stem),
      specs: g,
    }));
    return new ShardedWeightsWriter(store, shards, options);
  }

  /** Tensor names in the order they must be written. */
  get order(): string[] {
    return this.shards.flatMap((s) => s.specs.map((t) => t.name));
  }

  /** Shard file names and what each holds. */
  get plan(): { key: string; names: string[] }[] {
    return this.shards.map((s) => ({ key: s.key, names: s.specs.map((t) => t.name) }));
  }

  async writeTensor(name: string, data: TensorBytes): Promise<void> {
    const shardIndex = this.current?.shard ?? 0;
    let current = this.current;
    const shard = this.shards[shardIndex]!;
    if (!current) {
      current = this.open(0);
    } else if (shard.specs.length === this.writtenInShard(shardIndex)) {
      await current.writer.finish();
      current = this.open(shardIndex + 1);
    }
    await current.writer.writeTensor(name, data);
    this.written++;
  }

  private writtenInShard(shard: number): number {
    let before = 0;
    for (let i = 0; i < shard; i++) before += this.shards[i]!.specs.length;
    return this.written - before;
  }

  private open(shard: number): { writer: SafetensorsWriter; shard: number } {
    const planned = this.shards[shard];
    if (!planned) throw new FormatError(`${this.store.uri}: more tensors written than planned`);
    const writer = new SafetensorsWriter(this.store.createWriter(planned.key), planned.specs, {
      metadata: this.options.metadata ?? { format: "pt" },
      order: "given",
      source: joinSource(this.store.uri, planned.key),
    });
    this.current = { writer, shard };
    return this.current;
  }

  /** Closes the last shard and writes the index when there is more than one shard. Returns the files written. */
  async finish(): Promise<string[]> {
    let current = this.current ?? this.open(0);
    while (current.shard < this.shards.length - 1) {
      await current.writer.finish();
      current = this.open(current.shard + 1);
    }
    await current.writer.finish();
    const files = this.shards.map((s) => s.key);
    if (this.shards.length > 1) {
      const weightMap: Record<string, string> = {};
      let total = 0;
      for (const s of this.shards) {
        for (const t of s.specs) {
          weightMap[t.name] = s.key;
          total += (t.shape.reduce((a, b) => a * b, 1) * dtypeBits(t.dtype)) / 8;
        }
      }
      const stem = (this.options.singleFile ?? WEIGHTS_FILE).replace(/\.safetensors$/, "");
      const indexKey = `${stem}.safetensors.index.json`;
      const index = { metadata: { total_size: total, ...this.options.indexMetadata }, weight_map: weightMap };
      await this.store.put(indexKey, new TextEncoder().encode(`${JSON.stringify(index, null, 2)}\n`));
      files.push(indexKey);
    }
    return files;
  }

  async abort(): Promise<void> {
    await this.current?.writer.abort();
  }
}
