/**
 * Conditional PutObject (If-None-Match: * to create, If-Match: ETag to replace one version). A 412 after the
 * SDK retried the request may be our own first attempt, whose response was lost: when the object now holds
 * exactly our body (a single-part ETag is the MD5 of the content), that is success, not a conflict.
 */
import { createHash } from "node:crypto";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { attemptsOf, isNotFound, isPreconditionFailed, requestFailed } from "./s3-errors.js";

export interface ObjectAt {
  client: S3Client;
  bucket: string;
  /** The full S3 key. */
  key: string;
  /** The object's URI, for messages. */
  where: string;
}

export type PutCondition = { IfNoneMatch: "*" } | { IfMatch: string };

export const bareEtag = (etag: string): string => etag.replace(/"/g, "");

/** Resolves to the new ETag (bare), or null when the precondition failed. */
export async function putIf(at: ObjectAt, body: Uint8Array, condition: PutCondition): Promise<string | null> {
  const md5 = createHash("md5").update(body).digest("hex");
  try {
    const out = await at.client.send(
      new PutObjectCommand({
        Bucket: at.bucket,
        Key: at.key,
        Body: body,
        ContentLength: body.byteLength,
        ...condition,
      }),
    );
    return bareEtag(out.ETag ?? md5);
  } catch (err) {
    if (!isPreconditionFailed(err)) throw requestFailed(at.where, "PutObject", err);
    if (attemptsOf(err) > 1 && (await headEtag(at)) === md5) return md5;
    return null;
  }
}

/** The object's ETag (bare), or null when it does not exist. */
export async function headEtag(at: ObjectAt): Promise<string | null> {
  try {
    const out = await at.client.send(new HeadObjectCommand({ Bucket: at.bucket, Key: at.key }));
    return bareEtag(out.ETag ?? "");
  } catch (err) {
    if (isNotFound(err)) return null;
    throw requestFailed(at.where, "HeadObject", err);
  }
}
