/**
 * Copy a checkpoint between stores (file ↔ s3), streaming, verified against the source manifest as the
 * bytes pass, published atomically at the destination.
 */

import { createHash } from "node:crypto";
import pLimit from "p-limit";
import { IntegrityError } from "../errors.js";
import { joinSource } from "../safetensors/reader.js";
import { PUBLISHING_MARKER } from "../store/markers.js";
import type { StoreOptions } from "../store/open.js";
import { openCheckpoint } from "./checkpoint.js";
import type { Manifest } from "./manifest.js";
import { MANIFEST_FILE } from "./manifest.js";
import { CheckpointWriter } from "./writer.js";

export interface CopyOptions {
  store?: StoreOptions;
  /** Files copied at once. */
  concurrency?: number;
  onProgress?: (copiedBytes: number, totalBytes: number) => void;
}

export async function copyCheckpoint(
  sourceUri: string,
  destinationUri: string,
  options: CopyOptions = {},
): Promise<Manifest> {
  const source = await openCheckpoint(sourceUri, options.store);
  const expected = new Map(source.manifest?.files.map((f) => [f.path, f]) ?? []);
  const files: { key: string; size: number }[] = [];
  for await (const info of source.store.list()) {
    // A marker next to a manifest is a leftover of the source's publication, not part of the checkpoint.
    if (info.key !== MANIFEST_FILE && info.key !== PUBLISHING_MARKER) {
      files.push({ key: info.key, size: info.size });
    }
  }
  if (source.manifest) {
    for (const f of source.manifest.files) {
      if (!files.some((x) => x.key === f.path)) {
        throw new IntegrityError(`${joinSource(source.uri, f.path)}: listed in the manifest but missing`);
      }
    }
  }
  const total = files.reduce((a, f) => a + f.size, 0);
  const writer = await CheckpointWriter.begin(destinationUri, {
    stage: source.manifest?.stage ?? "import",
    parents: source.manifest?.parents ?? [source.uri],
    parameters: source.manifest?.parameters ?? {},
    metrics: source.manifest?.metrics ?? {},
    ...(source.manifest ? { id: source.manifest.id } : {}),
    ...(options.store ? { store: options.store } : {}),
  });
  let copied = 0;
  const limit = pLimit(options.concurrency ?? 4);
  try {
    await Promise.all(
      files.map((file) =>
        limit(async () => {
          const sink = writer.store.createWriter(file.key);
          const hash = createHash("sha256");
          try {
            for await (const chunk of source.store.readStream(file.key)) {
              hash.update(chunk);
              await sink.write(chunk);
              copied += chunk.byteLength;
              options.onProgress?.(copied, total);
            }
            const want = expected.get(file.key);
            const sha256 = hash.digest("hex");
            if (want && want.sha256 !== sha256) {
              throw new IntegrityError(
                `${joinSource(source.uri, file.key)}: sha256 ${sha256} does not match the source manifest's ${want.sha256}`,
              );
            }
            await sink.close();
          } catch (err) {
            await sink.abort();
            throw err;
          }
        }),
      ),
    );
    return await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
