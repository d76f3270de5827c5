/**
 * Publishing a checkpoint: files are written into staging (hashed as they stream), their sizes checked
 * once they have landed, and the manifest is written last, atomically. Until `commit` returns, readers of
 * the destination see no checkpoint; a crash leaves none either. The manifest lists exactly the files this
 * writer wrote: an object in staging that it did not write (left by someone else) fails the commit.
 */
import { createHash, randomUUID } from "node:crypto";
import { IntegrityError } from "../errors.js";
import { openStore, type StoreOptions } from "../store/open.js";
import type { ByteSink, ObjectInfo, PutOptions, ReadRange, Staging, Store } from "../store/types.js";
import { HashingSink } from "./hashing.js";
import {
  encodeManifest,
  type FileRecord,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
} from "./manifest.js";

export interface CheckpointWriterOptions {
  stage: string;
  parents?: string[];
  parameters?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  id?: string;
  store?: StoreOptions;
}

export class CheckpointWriter {
  readonly store: Store;
  private readonly recorded = new Map<string, { size: number; sha256: string }>();
  private readonly parameters: Record<string, unknown>;
  private readonly metrics: Record<string, unknown>;
  private finished = false;

  private constructor(
    readonly uri: string,
    private readonly staging: Staging,
    private readonly options: CheckpointWriterOptions,
  ) {
    this.store = new RecordingStore(staging.store, this.recorded);
    this.parameters = { ...options.parameters };
    this.metrics = { ...options.metrics };
  }

  /** Starts a publication at `uri`; fails with ConflictError if a checkpoint (or another writer) is there. */
  static async begin(uri: string, options: CheckpointWriterOptions): Promise<CheckpointWriter> {
    const destination = openStore(uri, options.store);
    const staging = await destination.beginStaging();
    return new CheckpointWriter(destination.uri, staging, options);
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.store.put(key, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    await this.store.put(key, bytes);
  }

  /** Streams `key` of another store into this checkpoint. */
  async copyFrom(source: Store, key: string, as = key): Promise<void> {
    const sink = this.store.createWriter(as);
    try {
      for await (const chunk of source.readStream(key)) await sink.write(chunk);
      await sink.close();
    } catch (err) {
      await sink.abort();
      throw err;
    }
  }

  setMetrics(metrics: Record<string, unknown>): void {
    Object.assign(this.metrics, metrics);
  }

  setParameters(parameters: Record<string, unknown>): void {
    Object.assign(this.parameters, parameters);
  }

  /** Verifies what landed, writes the manifest last and publishes. Returns the manifest. */
  async commit(): Promise<Manifest> {
    if (this.finished) throw new Error(`${this.uri}: checkpoint already committed or aborted`);
    try {
      const files: FileRecord[] = [];
      const landed = new Map<string, ObjectInfo>();
      for await (const info of this.staging.store.list()) landed.set(info.key, info);
      for (const [path, record] of this.recorded) {
        const info = landed.get(path);
        if (!info) throw new IntegrityError(`${this.uri}/${path}: written but not found in staging`);
        if (info.size !== record.size) {
          throw new IntegrityError(`${this.uri}/${path}: wrote ${record.size} bytes but ${info.size} landed`);
        }
      }
      const strays = [...landed.keys()].filter((path) => !this.recorded.has(path));
      if (strays.length > 0) {
        throw new IntegrityError(
          `${this.uri}/${strays[0]}: present in staging but not written by this publication` +
            `${strays.length > 1 ? ` (and ${strays.length - 1} more)` : ""}; refusing to list it in the manifest`,
        );
      }
      for (const [path, record] of this.recorded) {
        files.push({ path, size: record.size, sha256: record.sha256 });
      }
      files.sort((a, b) => (a.path < b.path ? -1 : 1));
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        version: MANIFEST_VERSION,
        id: this.options.id ?? randomUUID(),
        stage: this.options.stage,
        created: new Date().toISOString(),
        parents: this.options.parents ?? [],
        parameters: this.parameters,
        metrics: this.metrics,
        files,
      };
      await this.staging.commit(MANIFEST_FILE, encodeManifest(manifest));
      this.finished = true;
      return manifest;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.staging.abort();
  }
}

/** Writes go to the staging store and are hashed on the way; reads pass through. */
class RecordingStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly recorded: Map<string, { size: number; sha256: string }>,
  ) {}

  get uri(): string {
    return this.inner.uri;
  }

  head(key: string): Promise<ObjectInfo | null> {
    return this.inner.head(key);
  }
  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }
  getRange(key: string, range: ReadRange): Promise<Uint8Array> {
    return this.inner.getRange(key, range);
  }
  readStream(key: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    return this.inner.readStream(key, range);
  }
  list(prefix?: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    await this.inner.put(key, body, options);
    this.recorded.set(key, {
      size: body.byteLength,
      sha256: createHash("sha256").update(body).digest("hex"),
    });
  }

  createWriter(key: string): ByteSink {
    return new HashingSink(this.inner.createWriter(key), (size, sha256) =>
      this.recorded.set(key, { size, sha256 }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.inner.delete(key);
    this.recorded.delete(key);
  }

  child(sub: string): Store {
    throw new Error(`${this.uri}: a checkpoint being written has no child stores (asked for "${sub}")`);
  }

  beginStaging(): Promise<Staging> {
    throw new Error(`${this.uri}: already staging`);
  }
}
