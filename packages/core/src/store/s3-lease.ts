/**
 * The lease object on S3: read it with the server's clock, create it (If-None-Match: *), replace it only if it
 * is still the version we read (If-Match: its ETag). Both preconditions are atomic on radosgw and AWS, so of
 * two writers replacing the same version exactly one succeeds.
 *
 * radosgw 16 compares If-Match with the bare ETag: the quoted form that S3 returns (and RFC 7232 asks for) is
 * always refused with 412. We send the bare form, which AWS accepts too; if a server refuses it although the
 * object still has that ETag, we try the quoted form once.
 */
import { GetObjectCommand, type GetObjectCommandOutput } from "@aws-sdk/client-s3";
import { LetheError } from "../errors.js";
import { encodeLease, type LeaseRecord, type LeaseState, leaseState, parseLease, renewed } from "./lease.js";
import { bareEtag as bare, headEtag, type ObjectAt, putIf } from "./s3-conditional.js";
import { isNotFound, requestFailed } from "./s3-errors.js";
import { sendWithServerTime } from "./s3-server-time.js";

/** The marker object. */
export type LeaseObject = ObjectAt;

export interface FoundLease {
  state: LeaseState;
  etag: string;
}

/** The lease as it stands, or null when there is no marker. */
export async function readLease(lease: LeaseObject, fallbackLeaseMs: number): Promise<FoundLease | null> {
  try {
    const { output, serverNow } = await sendWithServerTime<GetObjectCommandOutput>(
      lease.client,
      new GetObjectCommand({ Bucket: lease.bucket, Key: lease.key }),
    );
    const bytes = (await output.Body?.transformToByteArray()) ?? new Uint8Array(0);
    const renewedAt = output.LastModified ?? serverNow ?? new Date();
    return {
      state: leaseState(parseLease(bytes), renewedAt, serverNow, fallbackLeaseMs),
      etag: bare(output.ETag ?? ""),
    };
  } catch (err) {
    if (isNotFound(err)) return null;
    throw requestFailed(lease.where, "GetObject", err);
  }
}

/** Creates the marker if there is none; resolves to its ETag, or null when one exists. */
export function createLease(lease: LeaseObject, record: LeaseRecord): Promise<string | null> {
  return putIf(lease, encodeLease(record), { IfNoneMatch: "*" });
}

/** Replaces the marker if it still has `etag`; resolves to the new ETag, or null when it changed or is gone. */
export async function replaceLease(
  lease: LeaseObject,
  etag: string,
  record: LeaseRecord,
): Promise<string | null> {
  const body = encodeLease(record);
  const replaced = await putIf(lease, body, { IfMatch: bare(etag) });
  if (replaced !== null) return replaced;
  const current = await headEtag(lease);
  // Still the version we asked for, yet refused: the server wants the quoted form.
  if (current === bare(etag)) return putIf(lease, body, { IfMatch: `"${bare(etag)}"` });
  return null;
}

/**
 * A lease we hold, renewed every `heartbeatMs` in the background. Once another writer has replaced it (or it
 * could not be renewed for a whole lease time) it is lost for good: `check()` throws and the publication must
 * stop without touching what the new holder may have written.
 */
export class HeldLease {
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private lastRenewal = Date.now();
  private lostBecause: LetheError | null = null;

  constructor(
    private readonly lease: LeaseObject,
    private record: LeaseRecord,
    private etag: string,
    private readonly heartbeatMs: number,
  ) {}

  get owner(): LeaseRecord {
    return this.record;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.renew().catch(() => undefined);
    }, this.heartbeatMs);
    // A publication in progress keeps the process alive through its own I/O, not through the heartbeat.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get lost(): LetheError | null {
    return this.lostBecause;
  }

  check(): void {
    if (this.lostBecause) throw this.lostBecause;
  }

  /** Renews now (one renewal at a time); throws if the lease is lost. */
  async renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = null;
    });
    await this.renewing;
    this.check();
  }

  private async renewOnce(): Promise<void> {
    if (this.lostBecause) return;
    const next = renewed(this.record);
    let etag: string | null;
    try {
      etag = await replaceLease(this.lease, this.etag, next);
    } catch (err) {
      if (Date.now() - this.lastRenewal > this.record.leaseMs) {
        this.lose(`could not renew it for ${this.record.leaseMs} ms (${(err as Error).message})`);
      }
      return;
    }
    if (etag === null) {
      this.lose("another writer replaced it (it was taken over as stale, or removed)");
      return;
    }
    this.record = next;
    this.etag = etag;
    this.lastRenewal = Date.now();
  }

  private lose(why: string): void {
    this.stop();
    this.lostBecause = new LetheError(`${this.lease.where}: this publication lost its lease: ${why}`);
  }
}
