import type { LeaseState } from "./lease.js";

/**
 * A store holds objects under string keys ("config.json", "sub/dir/file"), relative to its root URI.
 * `file://` (and plain paths) and `s3://bucket/prefix` implement the same interface, so every stage reads
 * and writes checkpoints and data without knowing where they live.
 */
export interface ObjectInfo {
  /** Key relative to the store root, with "/" separators. */
  key: string;
  size: number;
  etag?: string;
}

export interface PutOptions {
  /** Create-only: fail with ConflictError if the key exists (S3 `If-None-Match: *`, `O_EXCL` on files). */
  ifNoneMatch?: boolean;
}

/** A streaming writer for one object. Nothing is visible under the key until `close()` resolves. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** Discard what was written; safe to call after a failed write or twice. */
  abort(): Promise<void>;
  readonly bytesWritten: number;
}

export interface ReadRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, exclusive. */
  end: number;
}

/**
 * Files that must appear together or not at all (a checkpoint). Write into `store`; `commit` publishes
 * everything with the manifest last; `abort` removes what was staged.
 */
export interface Staging {
  readonly store: Store;
  commit(manifestKey: string, manifest: Uint8Array): Promise<void>;
  abort(): Promise<void>;
}

export interface Store {
  /** The URI of the root, e.g. `file:///data/ckpt` or `s3://bucket/runs/ckpt`. */
  readonly uri: string;
  head(key: string): Promise<ObjectInfo | null>;
  /** The whole object; NotFoundError names the URI when it is missing. */
  get(key: string): Promise<Uint8Array>;
  /** Bytes [start, end) of an object, a ranged GET on S3. */
  getRange(key: string, range: ReadRange): Promise<Uint8Array>;
  /** The object (or a range of it) as a stream of chunks. */
  readStream(key: string, range?: ReadRange): AsyncIterable<Uint8Array>;
  /** Every object under `prefix` (recursive), in key order. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void>;
  /** A streaming writer (multipart upload on S3). */
  createWriter(key: string): ByteSink;
  delete(key: string): Promise<void>;
  /** A store rooted at `root/sub`. */
  child(sub: string): Store;
  /** Begin an atomic publication of a set of objects at this root. */
  beginStaging(): Promise<Staging>;
  /**
   * The lease of a publication in progress (or interrupted) at this root, null when there is none. Only
   * stores that publish behind a lease (S3) have it.
   */
  publicationLease?(): Promise<LeaseState | null>;
}
