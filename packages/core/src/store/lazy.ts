/**
 * A store whose implementation is loaded on first use. The S3 store pulls in the AWS SDK, which costs about a
 * second of start-up; CLIs that only touch local files should not pay it.
 */
import type { LeaseState } from "./lease.js";
import type { ByteSink, ObjectInfo, PutOptions, ReadRange, Staging, Store } from "./types.js";

export class LazyStore implements Store {
  private loaded: Promise<Store> | null = null;

  constructor(
    readonly uri: string,
    private readonly load: () => Promise<Store>,
  ) {}

  private store(): Promise<Store> {
    this.loaded ??= this.load();
    return this.loaded;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return (await this.store()).head(key);
  }
  async get(key: string): Promise<Uint8Array> {
    return (await this.store()).get(key);
  }
  async getRange(key: string, range: ReadRange): Promise<Uint8Array> {
    return (await this.store()).getRange(key, range);
  }
  async *readStream(key: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    yield* (await this.store()).readStream(key, range);
  }
  async *list(prefix?: string): AsyncIterable<ObjectInfo> {
    yield* (await this.store()).list(prefix);
  }
  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    return (await this.store()).put(key, body, options);
  }
  createWriter(key: string): ByteSink {
    return new LazySink(this.store().then((s) => s.createWriter(key)));
  }
  async delete(key: string): Promise<void> {
    return (await this.store()).delete(key);
  }
  child(sub: string): Store {
    const childUri = `${this.uri.replace(/\/+$/, "")}/${sub.replace(/^\/+/, "")}`;
    return new LazyStore(childUri, async () => (await this.store()).child(sub));
  }
  async beginStaging(): Promise<Staging> {
    return (await this.store()).beginStaging();
  }
  async publicationLease(): Promise<LeaseState | null> {
    const store = await this.store();
    return store.publicationLease ? store.publicationLease() : null;
  }
}

class LazySink implements ByteSink {
  private resolved: ByteSink | null = null;

  constructor(private readonly sink: Promise<ByteSink>) {
    sink.then((s) => (this.resolved = s)).catch(() => undefined);
  }

  get bytesWritten(): number {
    return this.resolved?.bytesWritten ?? 0;
  }
  async write(chunk: Uint8Array): Promise<void> {
    return (await this.sink).write(chunk);
  }
  async close(): Promise<void> {
    return (await this.sink).close();
  }
  async abort(): Promise<void> {
    return (await this.sink).abort();
  }
}
