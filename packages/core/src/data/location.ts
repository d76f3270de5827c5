/**
 * Where dataset bytes live. Every loader and writer takes a `source` that is either a key inside a
 * given `store`, or — with no store — a path, `file://` or `s3://` URI naming one object, opened through
 * `openStore` on its parent.
 */
import * as path from "node:path";
import { FormatError } from "../errors.js";
import { openStore, type StoreOptions } from "../store/open.js";
import type { Store } from "../store/types.js";

export interface StoreOption {
  /** Read/write `source` as a key in this store instead of opening it as a path or URI. */
  store?: Store;
  /** Options for the store opened from a path or URI (e.g. S3 endpoint and credentials); unused with `store`. */
  storeOptions?: StoreOptions;
}

export interface DataLocation {
  store: Store;
  key: string;
  /** How messages name the object: the source as the caller wrote it, or `<store uri>/<key>`. */
  display: string;
}

const URI = /^[a-z][a-z0-9+.-]*:\/\//i;

export function joinUri(root: string, key: string): string {
  return key === "" ? root : `${root.replace(/\/+$/, "")}/${key}`;
}

export function locate(source: string, options: StoreOption = {}): DataLocation {
  if (options.store !== undefined) {
    return { store: options.store, key: source, display: joinUri(options.store.uri, source) };
  }
  if (URI.test(source)) {
    const slash = source.replace(/\/+$/, "").lastIndexOf("/");
    const parent = source.slice(0, slash);
    const key = source.slice(slash + 1);
    if (key === "" || parent.endsWith(":/")) throw new FormatError(`${source}: does not name an object`);
    return { store: openStore(parent, options.storeOptions), key, display: source };
  }
  return {
    store: openStore(path.dirname(source), options.storeOptions),
    key: path.basename(source),
    display: source,
  };
}

/** A directory-like location: the store rooted there (for layouts of several files, e.g. MMLU). */
export function locateDir(dir: string, options: StoreOption = {}): { store: Store; display: string } {
  if (options.store !== undefined) {
    return dir === "" || dir === "."
      ? { store: options.store, display: options.store.uri }
      : { store: options.store.child(dir), display: joinUri(options.store.uri, dir) };
  }
  return { store: openStore(dir, options.storeOptions), display: dir };
}
