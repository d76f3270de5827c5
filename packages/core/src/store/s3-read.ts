/**
 * Reading an object (or a byte range of it) as a stream of chunks, resuming where it stopped when the
 * response body dies mid-read: the SDK retries a request only until the response headers arrive, so a
 * connection reset while streaming a 5 GB shard would otherwise fail the whole read. Each resumption is a
 * ranged GET from the first missing byte with `If-Match` on the ETag of the first response, so the bytes
 * of two versions of an object are never spliced together.
 */
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { IntegrityError, LetheError, NotFoundError } from "../errors.js";
import {
  describeSdkError,
  httpStatus,
  isNotFound,
  isPreconditionFailed,
  requestFailed,
} from "./s3-errors.js";
import { backoffDelay, type RetryPolicy, sleep } from "./s3-retry.js";
import type { ReadRange } from "./types.js";

export interface ObjectRef {
  client: S3Client;
  bucket: string;
  key: string;
  /** The object's URI, for messages. */
  where: string;
  retry: RetryPolicy;
}

/** Chunks of bytes [range.start, range.end) of the object, or all of it. Callers handle empty ranges. */
export async function* readObject(ref: ObjectRef, range?: ReadRange): AsyncGenerator<Uint8Array> {
  let offset = range?.start ?? 0;
  let end = range?.end;
  let etag: string | undefined;
  let failures = 0;
  while (end === undefined || offset < end) {
    const response = await getFrom(ref, offset, end, etag, range);
    etag ??= response.ETag;
    const length = response.ContentLength ?? 0;
    if (end === undefined) end = offset + length;
    else if (offset + length < end) {
      discard(response);
      const size = objectSize(response) ?? offset + length;
      throw new NotFoundError(
        `${ref.where}: bytes [${range?.start}, ${range?.end}) run past the end of the object (${size} bytes)`,
      );
    }
    const before = offset;
    try {
      for await (const chunk of response.Body as AsyncIterable<Uint8Array>) {
        offset += chunk.byteLength;
        yield chunk;
      }
      if (offset < end) {
        throw new Error(`the response ended after ${offset - before} of ${end - before} bytes`);
      }
    } catch (err) {
      // Every byte arrived and the stream still failed: that is the SDK's checksum check, not the network.
      if (offset >= end) throw new IntegrityError(`${ref.where}: ${describeSdkError(err)}`, { cause: err });
      failures = offset > before ? 1 : failures + 1;
      if (failures >= ref.retry.maxAttempts) {
        throw new LetheError(
          `${ref.where}: reading failed at byte ${offset} after ${failures} attempts: ${describeSdkError(err)}`,
          { cause: err },
        );
      }
      await sleep(backoffDelay(ref.retry, failures - 1, false));
    }
  }
}

async function getFrom(
  ref: ObjectRef,
  offset: number,
  end: number | undefined,
  etag: string | undefined,
  requested: ReadRange | undefined,
): Promise<GetObjectCommandOutput> {
  const ranged = offset > 0 || end !== undefined;
  const header = end === undefined ? `bytes=${offset}-` : `bytes=${offset}-${end - 1}`;
  let response: GetObjectCommandOutput;
  try {
    response = await ref.client.send(
      new GetObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        ...(ranged ? { Range: header } : {}),
        ...(etag ? { IfMatch: etag } : {}),
      }),
    );
  } catch (err) {
    if (isNotFound(err)) throw new NotFoundError(`${ref.where}: no such object`);
    if (etag && isPreconditionFailed(err)) {
      throw new LetheError(`${ref.where}: the object was replaced while it was being read`, { cause: err });
    }
    if (httpStatus(err) === 416) {
      throw new NotFoundError(
        `${ref.where}: bytes [${requested?.start}, ${requested?.end}) run past the end of the object`,
      );
    }
    throw requestFailed(ref.where, "GetObject", err);
  }
  if (ranged && response.ContentRange === undefined && offset > 0) {
    discard(response);
    throw new LetheError(`${ref.where}: the server ignored the Range header of a GET`);
  }
  return response;
}

/** Releases the connection of a response whose body will not be read. */
function discard(response: GetObjectCommandOutput): void {
  (response.Body as { destroy?: () => void } | undefined)?.destroy?.();
}

/** The total size from "Content-Range: bytes 0-9/1234". */
function objectSize(response: GetObjectCommandOutput): number | undefined {
  const total = /\/(\d+)$/.exec(response.ContentRange ?? "")?.[1];
  return total === undefined ? undefined : Number(total);
}
