import { createHash, type Hash } from "node:crypto";
import type { ByteSink, Store } from "../store/types.js";

/** sha256 and size of an object, streamed. */
export async function hashObject(store: Store, key: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of store.readStream(key)) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { size, sha256: hash.digest("hex") };
}

/** A sink that hashes what passes through it on the way to `inner`. */
export class HashingSink implements ByteSink {
  private readonly hash: Hash = createHash("sha256");
  private digest: string | null = null;

  constructor(
    private readonly inner: ByteSink,
    private readonly onClose: (size: number, sha256: string) => void,
  ) {}

  get bytesWritten(): number {
    return this.inner.bytesWritten;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.hash.update(chunk);
    await this.inner.write(chunk);
  }

  async close(): Promise<void> {
    await this.inner.close();
    this.digest = this.hash.digest("hex");
    this.onClose(this.inner.bytesWritten, this.digest);
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}
