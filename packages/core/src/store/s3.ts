/**
 * The `s3://bucket/prefix` store, over any S3-compatible server (AWS, Ceph radosgw, MinIO...).
 * Requests are retried with backoff (s3-retry.ts), reads resume when a body dies mid-stream (s3-read.ts),
 * writes stream through multipart uploads (s3-writer.ts), and checkpoints are published atomically behind
 * a marker object (s3-staging.ts).
 */
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import pLimit, { type LimitFunction } from "p-limit";
import { ConflictError, LetheError, NotFoundError } from "../errors.js";
import { type LeaseState, leaseMsFromEnv } from "./lease.js";
import { PUBLISHING_MARKER } from "./markers.js";
import { acquirePublication } from "./s3-acquire.js";
import { createS3Client, retryPolicyOf } from "./s3-client.js";
import { putIf } from "./s3-conditional.js";
import { isNotFound, requestFailed } from "./s3-errors.js";
import { readLease } from "./s3-lease.js";
import { checkKey, formatS3Uri, parseS3Uri, type S3Location } from "./s3-location.js";
import { type ObjectRef, readObject } from "./s3-read.js";
import type { RetryPolicy } from "./s3-retry.js";
import { S3Staging, StagedWrites } from "./s3-staging.js";
import { S3Sink } from "./s3-writer.js";
import type { ByteSink, ObjectInfo, PutOptions, ReadRange, Staging, Store } from "./types.js";

// Present while a checkpoint is being published to a prefix (or after a publication was interrupted).
// Defined apart so that checkpoint readers need not load the AWS SDK.
export { PUBLISHING_MARKER };

/** The checkpoint manifest, written last; a prefix that has it holds a published checkpoint. */
const MANIFEST_KEY = "lethe.json";

export interface S3StoreOptions {
  /** e.g. "http://127.0.0.1:7480"; default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the AWS config file. */
  endpoint?: string;
  /** Default: AWS_REGION or the AWS config file, else us-east-1. */
  region?: string;
  /** Path-style URLs (http://host/bucket/key), needed by most S3-compatible servers. Default: LETHE_S3_FORCE_PATH_STYLE=1. */
  forcePathStyle?: boolean;
  /** Default: the AWS SDK's provider chain (env, shared files, SSO, instance metadata...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, the first included (default AWS_MAX_ATTEMPTS or 5). */
  maxAttempts?: number;
  /** Base of the exponential retry backoff in ms (default 100; throttling waits 5× longer). */
  retryBaseDelayMs?: number;
  /** Multipart part size in bytes (default 32 MiB, at least 5 MiB). */
  partSize?: number;
  /** Parts of one upload in flight at once (default 4). */
  queueSize?: number;
  /** Requests in flight when one operation fans out, e.g. deleting staged objects (default 16). */
  concurrency?: number;
  /** Keys per ListObjectsV2 page (default 1000, the S3 maximum). */
  listPageSize?: number;
  /** Use this client instead of building one; endpoint, region, credentials and path style are then ignored. */
  client?: S3Client;
  /**
   * A publication whose lease is not renewed for this long is stale and may be taken over (default
   * LETHE_S3_LEASE_SECONDS, else 5 minutes). Recorded in the lease: readers judge it by the writer's value.
   */
  leaseMs?: number;
  /** How often a publication renews its lease (default a tenth of leaseMs). */
  heartbeatMs?: number;
  /** Told what a takeover of a stale publication removed (default: a line on stderr). */
  onNotice?: (message: string) => void;
}

const DEFAULT_PART_SIZE = 32 << 20;
const MIN_PART_SIZE = 5 << 20;

interface S3Context {
  client: S3Client;
  bucket: string;
  retry: RetryPolicy;
  partSize: number;
  queueSize: number;
  listPageSize: number;
  /** Bounds fan-outs (deleting staged objects). */
  limit: LimitFunction;
  leaseMs: number;
  heartbeatMs: number;
  notify: (message: string) => void;
}

export function createS3Store(uri: string, options: S3StoreOptions = {}): Store {
  const location = parseS3Uri(uri);
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  if (partSize < MIN_PART_SIZE) {
    throw new LetheError(`${uri}: partSize ${partSize} is below the S3 minimum of ${MIN_PART_SIZE} bytes`);
  }
  const leaseMs = options.leaseMs ?? leaseMsFromEnv();
  const heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 10));
  if (!(heartbeatMs > 0 && heartbeatMs * 2 <= leaseMs)) {
    throw new LetheError(
      `${uri}: heartbeatMs ${heartbeatMs} must be positive and at most half of leaseMs ${leaseMs}`,
    );
  }
  const context: S3Context = {
    client: options.client ?? createS3Client(options),
    bucket: location.bucket,
    retry: retryPolicyOf(options),
    partSize,
    queueSize: Math.max(1, options.queueSize ?? 4),
    listPageSize: Math.min(1000, Math.max(1, options.listPageSize ?? 1000)),
    limit: pLimit(Math.max(1, options.concurrency ?? 16)),
    leaseMs,
    heartbeatMs,
    notify: options.onNotice ?? ((message) => process.stderr.write(`lethe: ${message}\n`)),
  };
  return new S3Store(context, location, null);
}

class S3Store implements Store {
  readonly uri: string;

  constructor(
    private readonly ctx: S3Context,
    private readonly location: S3Location,
    /** Set on the store handed out by beginStaging() and its children. */
    private readonly staged: StagedWrites | null,
  ) {
    this.uri = formatS3Uri(location);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const s3Key = this.s3Key(key);
    try {
      const out = await this.ctx.client.send(new HeadObjectCommand({ Bucket: this.ctx.bucket, Key: s3Key }));
      return { key, size: out.ContentLength ?? 0, ...(out.ETag ? { etag: out.ETag } : {}) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw requestFailed(this.where(key), "HeadObject", err);
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let length = 0;
    for await (const chunk of readObject(this.ref(key))) {
      chunks.push(chunk);
      length += chunk.byteLength;
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  }

  async getRange(key: string, range: ReadRange): Promise<Uint8Array> {
    this.checkRange(key, range);
    const out = new Uint8Array(range.end - range.start);
    if (out.byteLength === 0) {
      await this.mustExist(key);
      return out;
    }
    let filled = 0;
    for await (const chunk of readObject(this.ref(key), range)) {
      out.set(chunk, filled);
      filled += chunk.byteLength;
    }
    return out;
  }

  async *readStream(key: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    if (range) {
      this.checkRange(key, range);
      if (range.end === range.start) {
        await this.mustExist(key);
        return;
      }
    }
    yield* readObject(this.ref(key), range);
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    const base = this.location.prefix;
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.ctx.client.send(
          new ListObjectsV2Command({
            Bucket: this.ctx.bucket,
            Prefix: base + prefix,
            MaxKeys: this.ctx.listPageSize,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (err) {
        throw requestFailed(this.where(prefix), "ListObjectsV2", err);
      }
      for (const item of page.Contents ?? []) {
        const full = item.Key;
        // Keys ending in "/" are folder placeholders made by consoles, not objects.
        if (full === undefined || full.endsWith("/") || full === this.staged?.markerKey) continue;
        yield {
          key: full.slice(base.length),
          size: item.Size ?? 0,
          ...(item.ETag ? { etag: item.ETag } : {}),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const s3Key = this.s3Key(key);
    this.track(s3Key);
    if (options.ifNoneMatch) {
      const at = { client: this.ctx.client, bucket: this.ctx.bucket, key: s3Key, where: this.where(key) };
      if ((await putIf(at, body, { IfNoneMatch: "*" })) === null) {
        throw new ConflictError(`${this.where(key)}: already exists`);
      }
      return;
    }
    try {
      await this.ctx.client.send(
        new PutObjectCommand({
          Bucket: this.ctx.bucket,
          Key: s3Key,
          Body: body,
          ContentLength: body.byteLength,
        }),
      );
    } catch (err) {
      throw requestFailed(this.where(key), "PutObject", err);
    }
  }

  createWriter(key: string): ByteSink {
    const s3Key = this.s3Key(key);
    this.track(s3Key);
    const sink = new S3Sink({
      client: this.ctx.client,
      bucket: this.ctx.bucket,
      key: s3Key,
      where: this.where(key),
      partSize: this.ctx.partSize,
      queueSize: this.ctx.queueSize,
      limit: this.ctx.limit,
    });
    this.staged?.writers.add(sink);
    return sink;
  }

  async delete(key: string): Promise<void> {
    const s3Key = this.s3Key(key);
    this.staged?.checkOpen();
    try {
      await this.ctx.client.send(new DeleteObjectCommand({ Bucket: this.ctx.bucket, Key: s3Key }));
    } catch (err) {
      if (!isNotFound(err)) throw requestFailed(this.where(key), "DeleteObject", err);
    }
    this.staged?.keys.delete(s3Key);
  }

  child(sub: string): Store {
    const path = sub.replace(/\/+$/, "");
    checkKey(path, this.uri);
    return new S3Store(
      this.ctx,
      { bucket: this.location.bucket, prefix: `${this.location.prefix}${path}/` },
      this.staged,
    );
  }

  async beginStaging(): Promise<Staging> {
    if (this.staged) throw new LetheError(`${this.uri}: cannot begin a publication inside a staged one`);
    const { client, bucket, limit, leaseMs, heartbeatMs, notify } = this.ctx;
    const lease = await acquirePublication({
      client,
      bucket,
      limit,
      prefix: this.location.prefix,
      markerName: PUBLISHING_MARKER,
      manifestName: MANIFEST_KEY,
      leaseMs,
      heartbeatMs,
      notify,
    });
    lease.start();
    const staged = new StagedWrites(this.s3Key(PUBLISHING_MARKER), this.uri, lease);
    return new S3Staging(new S3Store(this.ctx, this.location, staged), staged, {
      putManifest: (key, bytes) => this.put(key, bytes, { ifNoneMatch: true }),
      deleteKeys: (keys) => this.deleteKeys(keys),
      notify,
    });
  }

  async publicationLease(): Promise<LeaseState | null> {
    const key = this.s3Key(PUBLISHING_MARKER);
    const found = await readLease(
      { client: this.ctx.client, bucket: this.ctx.bucket, key, where: this.where(PUBLISHING_MARKER) },
      this.ctx.leaseMs,
    );
    return found?.state ?? null;
  }

  /** Deletes full S3 keys, `concurrency` at a time; returns those that failed. */
  private async deleteKeys(keys: string[]): Promise<{ key: string; error: unknown }[]> {
    const results = await Promise.all(
      keys.map((key) =>
        this.ctx.limit(async () => {
          try {
            await this.ctx.client.send(new DeleteObjectCommand({ Bucket: this.ctx.bucket, Key: key }));
            return null;
          } catch (error) {
            return isNotFound(error) ? null : { key, error };
          }
        }),
      ),
    );
    return results.filter((r) => r !== null);
  }

  private track(s3Key: string): void {
    if (!this.staged) return;
    this.staged.checkOpen();
    this.staged.keys.add(s3Key);
  }

  private async mustExist(key: string): Promise<void> {
    if (!(await this.head(key))) throw new NotFoundError(`${this.where(key)}: no such object`);
  }

  private checkRange(key: string, range: ReadRange): void {
    const { start, end } = range;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new LetheError(`${this.where(key)}: invalid byte range [${start}, ${end})`);
    }
  }

  private s3Key(key: string): string {
    checkKey(key, this.uri);
    return this.location.prefix + key;
  }

  private where(key: string): string {
    return formatS3Uri(this.location, key);
  }

  private ref(key: string): ObjectRef {
    return {
      client: this.ctx.client,
      bucket: this.ctx.bucket,
      key: this.s3Key(key),
      where: this.where(key),
      retry: this.ctx.retry,
    };
  }
}
