/**
 * Atomic publication of a checkpoint on S3, where there is no directory rename to lean on. The protocol:
 *   1. refuse if the prefix already holds a manifest;
 *   2. create the marker object `.lethe-publishing` with If-None-Match: * (a second publisher gets 412);
 *   3. check for a manifest again (a publisher that committed between 1 and 2 has removed its marker);
 *   4. write the files under their final keys, remembering each key;
 *   5. commit: create the manifest with If-None-Match: *, then remove the marker.
 * A reader looks for the manifest first, so it never sees a checkpoint without one; a prefix with the marker
 * and no manifest is a publication in progress or interrupted. Abort removes every remembered key and then
 * the marker; if some key cannot be removed the marker stays, so the leftovers remain flagged.
 */
import { LetheError } from "../errors.js";
import type { Staging, Store } from "./types.js";

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
  ) {}

  checkOpen(): void {
    if (this.state !== "open")
      throw new LetheError(`${this.where}: the staged publication was already ${this.state}`);
  }
}

export interface StagingOps {
  /** Create-only put of the manifest at the root (ConflictError on 412). */
  putManifest(key: string, bytes: Uint8Array): Promise<void>;
  /** Delete full S3 keys, a bounded number at a time; resolves to the keys that could not be deleted. */
  deleteKeys(keys: string[]): Promise<{ key: string; error: unknown }[]>;
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
    await this.ops.putManifest(manifestKey, manifest);
    this.staged.state = "committed";
    const failed = await this.ops.deleteKeys([this.staged.markerKey]);
    if (failed.length > 0) {
      throw new LetheError(
        `${this.staged.where}: published, but the marker could not be removed: ${String(failed[0]?.error)}`,
        { cause: failed[0]?.error },
      );
    }
  }

  async abort(): Promise<void> {
    if (this.staged.state !== "open") return;
    this.staged.state = "aborted";
    await Promise.all([...this.staged.writers].map((w) => w.abort()));
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
