/** Checks a checkpoint against its manifest (every size and sha256) and every safetensors file against the spec. */

import { errorMessage } from "../errors.js";
import { joinSource, SafetensorsFile } from "../safetensors/reader.js";
import { WEIGHTS_INDEX_FILE, WeightsReader } from "../safetensors/sharded.js";
import { PUBLISHING_MARKER } from "../store/markers.js";
import type { StoreOptions } from "../store/open.js";
import { openCheckpoint } from "./checkpoint.js";
import { hashObject } from "./hashing.js";
import { MANIFEST_FILE } from "./manifest.js";

export interface VerifyResult {
  ok: boolean;
  /** Problems found, in the order they were found; with `stopAtFirst`, at most one. */
  problems: string[];
  filesChecked: number;
  bytesChecked: number;
}

export interface VerifyOptions {
  stopAtFirst?: boolean;
  store?: StoreOptions;
  onFile?: (path: string, size: number) => void;
}

export async function verifyCheckpoint(uri: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const result: VerifyResult = { ok: true, problems: [], filesChecked: 0, bytesChecked: 0 };
  const problem = (text: string): boolean => {
    result.ok = false;
    result.problems.push(text);
    return options.stopAtFirst === true;
  };
  let checkpoint: Awaited<ReturnType<typeof openCheckpoint>>;
  try {
    checkpoint = await openCheckpoint(uri, options.store);
  } catch (err) {
    problem(errorMessage(err));
    return result;
  }
  const { store, manifest } = checkpoint;
  if (!manifest) {
    problem(`${store.uri}: no ${MANIFEST_FILE}: the checkpoint is unverified (not published by Lethe)`);
    return result;
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const file of manifest.files) {
    const source = joinSource(store.uri, file.path);
    const info = await store.head(file.path);
    if (!info) {
      if (problem(`${source}: listed in the manifest but missing`)) return result;
      continue;
    }
    if (info.size !== file.size) {
      if (problem(`${source}: size ${info.size} bytes, the manifest says ${file.size}`)) return result;
      continue;
    }
    const { sha256 } = await hashObject(store, file.path);
    result.filesChecked++;
    result.bytesChecked += info.size;
    options.onFile?.(file.path, info.size);
    if (sha256 !== file.sha256) {
      if (problem(`${source}: sha256 ${sha256} does not match the manifest's ${file.sha256}`)) return result;
      continue;
    }
    if (file.path.endsWith(".safetensors")) {
      try {
        await SafetensorsFile.open(store, file.path);
      } catch (err) {
        if (problem(errorMessage(err))) return result;
      }
    }
  }
  for await (const info of store.list()) {
    // A marker next to a manifest was left by a publisher that crashed after committing: harmless.
    if (info.key === PUBLISHING_MARKER) continue;
    if (info.key !== MANIFEST_FILE && !listed.has(info.key)) {
      if (problem(`${joinSource(store.uri, info.key)}: present but not listed in the manifest`))
        return result;
    }
  }
  if (listed.has(WEIGHTS_INDEX_FILE)) {
    try {
      await (await WeightsReader.open(store)).validate();
    } catch (err) {
      if (problem(errorMessage(err))) return result;
    }
  }
  return result;
}
