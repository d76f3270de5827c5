/**
 * Where a store lives in S3: a bucket and a key prefix. `s3://bucket/runs/ckpt` is bucket "bucket" and prefix
 * "runs/ckpt/"; the store's key "config.json" is the S3 key "runs/ckpt/config.json".
 */
import { LetheError } from "../errors.js";

export interface S3Location {
  bucket: string;
  /** "" for the bucket root, otherwise ends with "/". */
  prefix: string;
}

export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  const bucket = match?.[1];
  if (!match || bucket === undefined || !/^[A-Za-z0-9._-]+$/.test(bucket)) {
    throw new LetheError(`invalid S3 URI "${uri}": expected s3://bucket or s3://bucket/prefix`);
  }
  const path = (match[2] ?? "").replace(/\/+$/, "");
  if (path !== "") checkKey(path, uri);
  return { bucket, prefix: path === "" ? "" : `${path}/` };
}

export function formatS3Uri(location: S3Location, key = ""): string {
  const path = (location.prefix + key).replace(/\/+$/, "");
  return path === "" ? `s3://${location.bucket}` : `s3://${location.bucket}/${path}`;
}

/**
 * Keys are relative, "/"-separated paths: no empty, "." or ".." segments, so that a key names the same
 * object on S3 and on a file system and cannot climb out of the store's prefix.
 */
export function checkKey(key: string, where: string): void {
  const segments = key.split("/");
  if (key === "" || segments.some((s) => s === "" || s === "." || s === "..")) {
    throw new LetheError(`invalid key "${key}" in ${where}: expected a relative path like "dir/file.json"`);
  }
}
