/**
 * Taking the publication lease of a prefix before writing a checkpoint there:
 *   - no marker: create it (If-None-Match: *); the prefix must hold nothing else, since the manifest will
 *     list only what this publication writes and an object it did not write would be a stray;
 *   - a live lease: refuse, naming the owner and the lease's age;
 *   - a stale lease: replace it with ours (If-Match: the ETag we read; of two writers exactly one succeeds),
 *     then abort the crashed writer's multipart uploads and remove its objects;
 *   - a manifest (before or after taking the lease): refuse, and remove a marker left after it (the
 *     publisher crashed between writing the manifest and removing its marker: the checkpoint is complete).
 */
import { ConflictError } from "../errors.js";
import { describeLease, type LeaseRecord, newLease } from "./lease.js";
import { headEtag } from "./s3-conditional.js";
import { createLease, HeldLease, type LeaseObject, readLease, replaceLease } from "./s3-lease.js";
import { formatS3Uri } from "./s3-location.js";
import { type Bucket, deleteKeys, listKeys, sweepPrefix } from "./s3-sweep.js";

export interface PublicationSite extends Bucket {
  /** The checkpoint's prefix ("" or ending in "/"). */
  prefix: string;
  markerName: string;
  manifestName: string;
  leaseMs: number;
  heartbeatMs: number;
  /** What a takeover removed, for the person running the writer. */
  notify: (message: string) => void;
  /** "publish" for a writer, "cleanup" for `lethe-ckpt cleanup`. */
  purpose?: string;
}

/** A marker that vanishes and reappears between our reads makes us try again, this many times. */
const ATTEMPTS = 4;

export async function acquirePublication(site: PublicationSite): Promise<HeldLease> {
  const where = formatS3Uri({ bucket: site.bucket, prefix: site.prefix });
  const lease: LeaseObject = {
    client: site.client,
    bucket: site.bucket,
    key: site.prefix + site.markerName,
    where: `${where}/${site.markerName}`,
  };
  const alreadyPublished = () => new ConflictError(`${where}: already holds a checkpoint`);
  const refuseIfPublished = async (): Promise<void> => {
    if (!(await exists(site, site.prefix + site.manifestName))) return;
    await deleteKeys(site, [lease.key]);
    throw alreadyPublished();
  };

  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (await exists(site, site.prefix + site.manifestName)) {
      // A marker next to a manifest is left from a publisher that crashed after committing: harmless.
      await deleteKeys(site, [lease.key]);
      throw alreadyPublished();
    }
    const record = newLease(site.leaseMs, site.purpose);
    const created = await createLease(lease, record);
    if (created !== null) {
      const held = new HeldLease(lease, record, created, site.heartbeatMs);
      await refuseIfPublished();
      await refuseForeignObjects(site, lease.key, where);
      return held;
    }
    const found = await readLease(lease, site.leaseMs);
    if (found === null) continue;
    if (!found.state.stale) throw new ConflictError(describeLease(where, found.state));
    const taken = await replaceLease(lease, found.etag, record);
    if (taken === null) {
      const now = await readLease(lease, site.leaseMs);
      if (now === null) continue;
      throw new ConflictError(
        `${describeLease(where, now.state)}; it took over the stale publication before this writer could`,
      );
    }
    const held = new HeldLease(lease, record, taken, site.heartbeatMs);
    await refuseIfPublished();
    await takeOver(site, held.owner, lease.key, where, describeLease(where, found.state));
    return held;
  }
  throw new ConflictError(`${where}: the publishing marker kept changing; try again`);
}

async function takeOver(
  site: PublicationSite,
  ours: LeaseRecord,
  markerKey: string,
  where: string,
  crashed: string,
): Promise<void> {
  const swept = await sweepPrefix(site, site.prefix, new Set([markerKey]));
  const names = swept.objects.map((k) => k.slice(site.prefix.length));
  site.notify(
    `${crashed}; took over its lease (now ${ours.owner.host} pid ${ours.owner.pid}) and removed what it left: ` +
      `${names.length} object(s)${names.length ? ` (${names.slice(0, 5).join(", ")}${names.length > 5 ? ", …" : ""})` : ""}, ` +
      `${swept.uploads.length} unfinished multipart upload(s) under ${where}`,
  );
}

async function refuseForeignObjects(site: PublicationSite, markerKey: string, where: string): Promise<void> {
  const { keys } = await listKeys(site, site.prefix);
  const foreign = keys.filter((k) => k !== markerKey && !k.endsWith("/"));
  if (foreign.length === 0) return;
  await deleteKeys(site, [markerKey]);
  throw new ConflictError(
    `${where}: holds ${foreign.length} object(s) that no publication owns (e.g. ` +
      `${formatS3Uri({ bucket: site.bucket, prefix: "" }, foreign[0])}); a checkpoint's manifest lists only the ` +
      `files its publication wrote, so refusing to publish over them: remove them or publish elsewhere`,
  );
}

function exists(b: Bucket, key: string): Promise<boolean> {
  const where = formatS3Uri({ bucket: b.bucket, prefix: "" }, key);
  return headEtag({ client: b.client, bucket: b.bucket, key, where }).then((etag) => etag !== null);
}
