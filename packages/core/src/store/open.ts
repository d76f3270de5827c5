import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FileStore } from "./file.js";
import { LazyStore } from "./lazy.js";
import type { S3StoreOptions } from "./s3.js";
import { formatS3Uri, parseS3Uri } from "./s3-location.js";
import type { Store } from "./types.js";

export interface StoreOptions {
  s3?: S3StoreOptions;
}

/** A store rooted at a URI: `s3://bucket/prefix`, `file:///dir`, or a plain path (the default). */
export function openStore(uri: string, options: StoreOptions = {}): Store {
  if (uri.startsWith("s3://")) return createS3StoreLazily(uri, options.s3);
  if (uri.startsWith("file://")) return new FileStore(fileURLToPath(uri));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new Error(`unsupported URI scheme in "${uri}": use a path, file:// or s3://`);
  }
  return new FileStore(path.resolve(uri));
}

/** The S3 store, with the AWS SDK loaded on first use rather than at import. */
export function createS3StoreLazily(uri: string, options?: S3StoreOptions): Store {
  const normalized = formatS3Uri(parseS3Uri(uri));
  return new LazyStore(normalized, async () => (await import("./s3.js")).createS3Store(uri, options));
}

export function isRemoteUri(uri: string): boolean {
  return uri.startsWith("s3://");
}

/**
 * Fail now, before a stage's expensive part, if publishing a checkpoint at `uri` would fail: something is
 * already there, or a file is where a parent directory must go. (S3 destinations are checked when
 * publication begins.)
 */
export async function checkDestination(uri: string): Promise<void> {
  const store = openStore(uri);
  if (store instanceof FileStore) await store.checkDestination();
}
