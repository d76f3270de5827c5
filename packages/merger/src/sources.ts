/**
 * The models a merge reads: a checkpoint (path, file:// or s3://), a LoRA adapter, or `model+lora` (the
 * adapter folded into the model's weights as tensors are read, as mergekit merges the LoRA first). Each
 * tensor is read straight into memory the merge provides (shared with worker threads), with one
 * positioned read per tensor for files and a ranged GET stream for S3, never a whole shard.
 */
import type { FileHandle } from "node:fs/promises";
import * as fs from "node:fs/promises";
import {
  type DType,
  decodeToFloat32,
  FileStore,
  type FloatDType,
  FormatError,
  isFloatDType,
  type JsonObject,
  NotFoundError,
  openCheckpoint,
  SafetensorsFile,
  type Store,
  type StoreOptions,
} from "@lethe/core";
import type { ModelReference } from "./config/schema.js";
import { deltaWeight, type LoraAdapter, openAdapter, readFactor, targetShape } from "./lora/adapter.js";

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
}

interface Location {
  file: string;
  /** Absolute byte offset of the tensor in its file. */
  offset: number;
  length: number;
}

export interface ModelSource {
  /** The reference as written in the config. */
  label: string;
  /** The checkpoint's store URI (canonical). */
  uri: string;
  kind: "model" | "adapter";
  config: JsonObject | null;
  store: Store;
  /** Tensors of a model (adapter factors are in `adapter`). With a folded LoRA, updated weights are F32. */
  tensors: Map<string, TensorInfo>;
  adapter: LoraAdapter | null;
  /** The bytes of a tensor, as `tensors` describes it, written into `target`. */
  readInto(name: string, target: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

class WeightsSource {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  constructor(
    readonly store: Store,
    readonly locations: Map<string, Location>,
  ) {}

  static async open(
    store: Store,
    files: string[],
  ): Promise<{ source: WeightsSource; tensors: Map<string, TensorInfo> }> {
    const locations = new Map<string, Location>();
    const tensors = new Map<string, TensorInfo>();
    for (const file of files) {
      const st = await SafetensorsFile.open(store, file);
      for (const t of st.tensors) {
        locations.set(t.name, { file, offset: st.header.dataStart + t.begin, length: t.end - t.begin });
        tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: [...t.shape] });
      }
    }
    return { source: new WeightsSource(store, locations), tensors };
  }

  async readInto(name: string, target: Uint8Array): Promise<void> {
    const loc = this.locations.get(name);
    if (!loc) throw new NotFoundError(`${this.store.uri}: no tensor "${name}"`);
    if (target.byteLength !== loc.length) {
      throw new Error(`internal: ${name} needs ${loc.length} bytes, buffer has ${target.byteLength}`);
    }
    if (this.store instanceof FileStore) {
      const handle = await this.handle(loc.file);
      let done = 0;
      while (done < loc.length) {
        const { bytesRead } = await handle.read(target, done, loc.length - done, loc.offset + done);
        if (bytesRead === 0)
          throw new NotFoundError(`${this.store.uri}/${loc.file}: ended inside "${name}" (truncated?)`);
        done += bytesRead;
      }
      return;
    }
    let done = 0;
    for await (const chunk of this.store.readStream(loc.file, {
      start: loc.offset,
      end: loc.offset + loc.length,
    })) {
      target.set(chunk.subarray(0, Math.min(chunk.byteLength, loc.length - done)), done);
      done += chunk.byteLength;
    }
    if (done !== loc.length)
      throw new NotFoundError(
        `${this.store.uri}/${loc.file}: read ${done} of ${loc.length} bytes of "${name}"`,
      );
  }

  private handle(file: string): Promise<FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = fs.open((this.store as FileStore).pathOf(file), "r");
      this.handles.set(file, h);
    }
    return h;
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) await (await h).close();
    this.handles.clear();
  }
}

export interface OpenOptions {
  store?: StoreOptions;
}

/** Open what a config entry refers to. Relative paths are resolved against the working directory. */
export async function openModelSource(
  ref: ModelReference,
  label: string,
  options: OpenOptions = {},
): Promise<ModelSource> {
  const checkpoint = await openCheckpoint(ref.model, options.store ?? {}).catch((err: unknown) => {
    if (err instanceof NotFoundError) {
      throw new NotFoundError(
        `model "${ref.model}": ${err.message} (Lethe reads local paths, file:// and s3:// URIs; download Hub models first)`,
      );
    }
    throw err;
  });
  if (!checkpoint.weights) {
    if (ref.lora)
      throw new NotFoundError(`model "${ref.model}" has no weights to fold the LoRA "${ref.lora}" into`);
    if (!checkpoint.adapter) throw new NotFoundError(`model "${ref.model}": no weights and no adapter`);
    const adapter = await openAdapter(checkpoint);
    return {
      label,
      uri: checkpoint.uri,
      kind: "adapter",
      config: checkpoint.config,
      store: checkpoint.store,
      tensors: new Map(),
      adapter,
      readInto: () => Promise.reject(new Error(`internal: ${label} is an adapter`)),
      close: async () => {},
    };
  }
  const { source, tensors } = await WeightsSource.open(checkpoint.store, checkpoint.weights.fileKeys());
  if (!ref.lora) {
    return {
      label,
      uri: checkpoint.uri,
      kind: "model",
      config: checkpoint.config,
      store: checkpoint.store,
      tensors,
      adapter: null,
      readInto: (name, target) => source.readInto(name, target),
      close: () => source.close(),
    };
  }
  const loraCheckpoint = await openCheckpoint(ref.lora, options.store ?? {});
  const adapter = await openAdapter(loraCheckpoint);
  const folded = new Map(tensors);
  for (const [target, m] of adapter.modules) {
    const info = tensors.get(target);
    if (!info)
      throw new FormatError(`LoRA "${ref.lora}" updates ${target}, which model "${ref.model}" lacks`);
    if (!isFloatDType(info.dtype))
      throw new FormatError(`${ref.model}: ${target} is ${info.dtype}, cannot fold a LoRA into it`);
    const expected = targetShape(m);
    if (expected.join() !== info.shape.join()) {
      throw new FormatError(
        `LoRA "${ref.lora}": ${m.module} makes a [${expected}] update for ${target}, which is [${info.shape}]`,
      );
    }
    folded.set(target, { ...info, dtype: "F32" });
  }
  return {
    label,
    uri: checkpoint.uri,
    kind: "model",
    config: checkpoint.config,
    store: checkpoint.store,
    tensors: folded,
    adapter,
    async readInto(name, target) {
      const m = adapter.modules.get(name);
      if (!m) return source.readInto(name, target);
      // Folded weight: W + s·B·A in f32 (mergekit saves the merged model in f32 before merging it).
      const info = tensors.get(name)!;
      const bytes = new Uint8Array(source.locations.get(name)!.length);
      await source.readInto(name, bytes);
      const w = decodeToFloat32(bytes, info.dtype as FloatDType);
      const delta = deltaWeight(m, await readFactor(adapter, m.aKey), await readFactor(adapter, m.bKey));
      const out = new Float32Array(target.buffer, target.byteOffset, w.length);
      for (let i = 0; i < w.length; i++) out[i] = w[i]! + delta[i]!;
    },
    close: () => source.close(),
  };
}
