/**
 * `lethe-ckpt cleanup`: what crashed publications left under an S3 prefix.
 *   - a checkpoint prefix whose lease is stale and older than `olderThanMs`, without a manifest: its lease
 *     is taken over (the same takeover a writer does, so a writer racing us cannot lose its files to us) and
 *     everything under it removed, unfinished uploads included;
 *   - a marker next to a manifest: only the marker goes, the checkpoint stays;
 *   - multipart uploads started more than `olderThanMs` ago and not under a live publication: aborted.
 * A prefix holding any manifest (its own or one below it) is never removed.
 */
import pLimit from "p-limit";
import { ConflictError, errorMessage } from "../errors.js";
import { describeLease, formatAge, leaseMsFromEnv } from "./lease.js";
import { PUBLISHING_MARKER } from "./markers.js";
import type { S3StoreOptions } from "./s3.js";
import { acquirePublication } from "./s3-acquire.js";
import { createS3Client } from "./s3-client.js";
import { readLease } from "./s3-lease.js";
import { formatS3Uri, parseS3Uri } from "./s3-location.js";
import { abortUploads, type Bucket, deleteKeys, listKeys, listUploads } from "./s3-sweep.js";

const MANIFEST = "lethe.json";

export interface CleanupOptions extends S3StoreOptions {
  /** Only what has been stale (or, for uploads, started) at least this long. */
  olderThanMs: number;
  dryRun: boolean;
}

export interface CleanupAction {
  what: "remove-prefix" | "remove-marker" | "abort-upload" | "skip";
  uri: string;
  detail: string;
}

export async function cleanupS3(uri: string, options: CleanupOptions): Promise<CleanupAction[]> {
  const location = parseS3Uri(uri);
  const client = options.client ?? createS3Client(options);
  const b: Bucket = {
    client,
    bucket: location.bucket,
    limit: pLimit(Math.max(1, options.concurrency ?? 16)),
  };
  const at = (key: string) => formatS3Uri({ bucket: location.bucket, prefix: "" }, key);
  const leaseMs = options.leaseMs ?? leaseMsFromEnv();
  const actions: CleanupAction[] = [];
  const { keys, serverNow } = await listKeys(b, location.prefix);
  const now = serverNow ?? new Date();
  /** Prefixes whose uploads are left alone: live publications, and the ones a dry run would remove. */
  const protectedPrefixes: string[] = [];

  for (const marker of keys.filter((k) => k === PUBLISHING_MARKER || k.endsWith(`/${PUBLISHING_MARKER}`))) {
    const prefix = marker.slice(0, -PUBLISHING_MARKER.length);
    const where = at(prefix);
    if (keys.includes(prefix + MANIFEST)) {
      if (!options.dryRun) await deleteKeys(b, [marker]);
      actions.push({ what: "remove-marker", uri: at(marker), detail: "left after a published checkpoint" });
      continue;
    }
    const skip = (detail: string) => {
      protectedPrefixes.push(prefix);
      actions.push({ what: "skip", uri: where, detail });
    };
    if (keys.some((k) => k.startsWith(prefix) && k.endsWith(`/${MANIFEST}`))) {
      skip("a published checkpoint lies below it");
      continue;
    }
    const found = await readLease({ client, bucket: b.bucket, key: marker, where: at(marker) }, leaseMs);
    if (found === null) continue;
    if (!found.state.stale) {
      skip(describeLease(where, found.state));
      continue;
    }
    if (found.state.ageMs < options.olderThanMs) {
      skip(
        `stale for ${formatAge(found.state.ageMs)}, less than --older-than ${formatAge(options.olderThanMs)}`,
      );
      continue;
    }
    if (options.dryRun) {
      protectedPrefixes.push(prefix);
      const objects = keys.filter((k) => k.startsWith(prefix)).length;
      const uploads = (await listUploads(b, prefix)).length;
      actions.push({
        what: "remove-prefix",
        uri: where,
        detail: `would remove ${objects} object(s) and ${uploads} unfinished upload(s): ${describeLease(where, found.state)}`,
      });
      continue;
    }
    actions.push(await removePublication(b, prefix, where, leaseMs));
  }

  const uploads = await listUploads(b, location.prefix);
  for (const u of uploads) {
    if (protectedPrefixes.some((p) => u.key.startsWith(p))) continue;
    const age = u.initiated ? now.getTime() - u.initiated.getTime() : Number.POSITIVE_INFINITY;
    if (age < options.olderThanMs) continue;
    if (!options.dryRun) await abortUploads(b, [u]);
    actions.push({
      what: "abort-upload",
      uri: at(u.key),
      detail: `upload ${u.uploadId} started ${u.initiated?.toISOString() ?? "at an unknown time"}`,
    });
  }
  return actions;
}

/** Takes over the stale lease as a writer would (which removes what is under the prefix), then lets go. */
async function removePublication(
  b: Bucket,
  prefix: string,
  where: string,
  leaseMs: number,
): Promise<CleanupAction> {
  let removed = "";
  try {
    const lease = await acquirePublication({
      ...b,
      prefix,
      markerName: PUBLISHING_MARKER,
      manifestName: MANIFEST,
      leaseMs,
      heartbeatMs: leaseMs,
      purpose: "cleanup",
      notify: (message) => {
        removed = message;
      },
    });
    lease.stop();
    await deleteKeys(b, [prefix + PUBLISHING_MARKER]);
    return { what: "remove-prefix", uri: where, detail: removed || "removed an empty publication" };
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    return { what: "skip", uri: where, detail: errorMessage(err) };
  }
}
