/**
 * Atomic publication of a checkpoint on S3, where there is no directory rename to lean on. The protocol:
 *   1. take the publication lease, the marker object `.lethe-publishing` (s3-acquire.ts), and renew it in
 *      the background while the files are written;
 *   2. write the files under their final keys, remembering each key;
 *   3. commit: renew the lease once more (proving it is still ours), create the manifest with
 *      If-None-Match: *, then remove the marker.
 * A reader looks for the manifest first, so it never sees a checkpoint without one; a prefix with the marker
 * and no manifest is a publication in progress (a live lease) or interrupted (a stale one). Abort removes
 * every remembered key and then the marker; if some key cannot be removed the marker stays, so the leftovers
 * remain flagged. A publication that lost its lease to another writer removes nothing: the keys are the new
 * holder's now.
 */
import { LetheError } from "../errors.js";
import type { Staging, Store } from "./types.js";

/** The lease a publication holds (HeldLease in s3-lease.ts). */
export interface PublicationLease {
  start(): void;
  stop(): void;
  /** Renews now; throws if the lease is lost. */
  renew(): Promise<void>;
  readonly lost: Error | null;
  check(): void;
}

/** What a staging store has written, shared by the store and its children. */
export class StagedWrites {
  readonly keys = new Set<string>();
  /** Writers not yet closed or aborted, aborted with the staging. */
  readonly writers = new Set<{ abort(): Promise<void>; readonly finished: boolean }>();
  state: "open" | "committed" | "aborted" = "open";

  constructor(
    /** The full S3 key of the marker, hidden from the staging store's listings. */
    readonly markerKey: string,
    readonly where: string,
    readonly lease: PublicationLease,
  ) {}

  checkOpen(): void {
    if (this.state !== "open")
      throw new LetheError(`${this.where}: the staged publication was already ${this.state}`);
    this.lease.check();
  }
}

export interface StagingOps {
  /** Create-only put of the manifest at the root (ConflictError on 412). */
  putManifest(key: string, bytes: Uint8Array): Promise<void>;
  /** Delete full S3 keys, a bounded number at a time; resolves to the keys that could not be deleted. */
  deleteKeys(keys: string[]): Promise<{ key: string; error: unknown }[]>;
  /** Told about a marker left after a manifest. */
  notify(message: string): void;
}

export class S3Staging implements Staging {
  constructor(
    readonly store: Store,
    private readonly staged: StagedWrites,
    private readonly ops: StagingOps,
  ) {}

  async commit(manifestKey: string, manifest: Uint8Array): Promise<void> {
    this.staged.checkOpen();
    const open = [...this.staged.writers].filter((w) => !w.finished).length;
    if (open > 0)
      throw new LetheError(`${this.staged.where}: cannot commit while ${open} writer(s) are still open`);
    await this.staged.lease.renew();
    await this.ops.putManifest(manifestKey, manifest);
    this.staged.state = "committed";
    this.staged.lease.stop();
    // A marker left next to the manifest is harmless: readers go by the manifest, the next writer removes it.
    const failed = await this.ops.deleteKeys([this.staged.markerKey]);
    if (failed.length > 0) {
      this.ops.notify(
        `${this.staged.where}: published; the publishing marker could not be removed (${String(failed[0]?.error)}), ` +
          "which is harmless: readers go by the manifest and the next writer here removes it",
      );
    }
  }

  async abort(): Promise<void> {
    if (this.staged.state !== "open") return;
    this.staged.state = "aborted";
    this.staged.lease.stop();
    await Promise.all([...this.staged.writers].map((w) => w.abort()));
    if (this.staged.lease.lost) return;
    const failed = await this.ops.deleteKeys([...this.staged.keys]);
    if (failed.length > 0) {
      throw new LetheError(
        `${this.staged.where}: could not remove ${failed.length} staged object(s) (e.g. ${failed[0]?.key}: ` +
          `${String(failed[0]?.error)}); the publishing marker was left in place`,
        { cause: failed[0]?.error },
      );
    }
    const markerFailed = await this.ops.deleteKeys([this.staged.markerKey]);
    if (markerFailed.length > 0) {
      throw new LetheError(`${this.staged.where}: could not remove the publishing marker`, {
        cause: markerFailed[0]?.error,
      });
    }
  }
}
