/**
 * Listing and removing what a crashed publication left under a prefix: its objects and its unfinished
 * multipart uploads. Used when a writer takes over a stale lease and by `lethe-ckpt cleanup`.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { LimitFunction } from "p-limit";
import { isNotFound, requestFailed } from "./s3-errors.js";
import { formatS3Uri } from "./s3-location.js";
import { sendWithServerTime } from "./s3-server-time.js";

export interface Bucket {
  client: S3Client;
  bucket: string;
  /** Bounds the fan-out of deletes and aborts. */
  limit: LimitFunction;
}

export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated: Date | undefined;
}

export interface SweepResult {
  /** Full S3 keys of the objects removed (or, in a dry run, to remove). */
  objects: string[];
  uploads: PendingUpload[];
}

const uri = (b: Bucket, key: string): string => formatS3Uri({ bucket: b.bucket, prefix: "" }, key);

/** Every object key under `prefix` (full S3 keys), paged; `serverNow` is the clock of the first page. */
export async function listKeys(b: Bucket, prefix: string): Promise<{ keys: string[]; serverNow?: Date }> {
  const keys: string[] = [];
  let token: string | undefined;
  let serverNow: Date | undefined;
  do {
    let page: ListObjectsV2CommandOutput;
    try {
      const sent = await sendWithServerTime<ListObjectsV2CommandOutput>(
        b.client,
        new ListObjectsV2Command({
          Bucket: b.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      page = sent.output;
      serverNow ??= sent.serverNow;
    } catch (err) {
      throw requestFailed(uri(b, prefix), "ListObjectsV2", err);
    }
    for (const item of page.Contents ?? []) if (item.Key !== undefined) keys.push(item.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return serverNow ? { keys, serverNow } : { keys };
}

/** Multipart uploads started under `prefix` and neither completed nor aborted. */
export async function listUploads(b: Bucket, prefix: string): Promise<PendingUpload[]> {
  const found: PendingUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    let page: ListMultipartUploadsCommandOutput;
    try {
      page = await b.client.send(
        new ListMultipartUploadsCommand({
          Bucket: b.bucket,
          Prefix: prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
    } catch (err) {
      throw requestFailed(uri(b, prefix), "ListMultipartUploads", err);
    }
    for (const u of page.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId !== undefined) {
        found.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated });
      }
    }
    if (!page.IsTruncated || !page.NextKeyMarker) return found;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

export async function abortUploads(b: Bucket, uploads: PendingUpload[]): Promise<void> {
  await Promise.all(
    uploads.map((u) =>
      b.limit(async () => {
        try {
          await b.client.send(
            new AbortMultipartUploadCommand({ Bucket: b.bucket, Key: u.key, UploadId: u.uploadId }),
          );
        } catch (err) {
          if (!isNotFound(err)) throw requestFailed(uri(b, u.key), "AbortMultipartUpload", err);
        }
      }),
    ),
  );
}

export async function deleteKeys(b: Bucket, keys: string[]): Promise<void> {
  await Promise.all(
    keys.map((key) =>
      b.limit(async () => {
        try {
          await b.client.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: key }));
        } catch (err) {
          if (!isNotFound(err)) throw requestFailed(uri(b, key), "DeleteObject", err);
        }
      }),
    ),
  );
}

/**
 * Aborts every unfinished upload under `prefix`, then removes every object under it except `keep`. Uploads
 * go first so that no part lands after the listing of objects.
 */
export async function sweepPrefix(
  b: Bucket,
  prefix: string,
  keep: ReadonlySet<string>,
): Promise<SweepResult> {
  const uploads = await listUploads(b, prefix);
  await abortUploads(b, uploads);
  const objects = (await listKeys(b, prefix)).keys.filter((k) => !keep.has(k));
  await deleteKeys(b, objects);
  return { objects, uploads };
}
