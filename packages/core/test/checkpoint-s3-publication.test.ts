/**
 * What an S3 publication must not leave wrong: objects it did not write adopted into the manifest, a marker
 * left after the manifest wedging the checkpoint, an upload whose create response was lost left behind.
 * Against radosgw, with the fault proxy where a response must go missing.
 */
import { createHash, randomBytes } from "node:crypto";
import * as path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { copyCheckpoint } from "../src/checkpoint/copy.js";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { ConflictError } from "../src/errors.js";
import { PUBLISHING_MARKER } from "../src/store/markers.js";
import { createS3Store } from "../src/store/s3.js";
import { writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { createTestBucket, s3, startFaultProxy, type TestBucket } from "./helpers/s3.js";
import { tempDir } from "./helpers/tmp.js";

const MiB = 1 << 20;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe.skipIf(!s3)("S3 publication: strays, leftover markers, lost responses", () => {
  const root = tempDir("ckpt-s3-publication");
  let bucket: TestBucket;
  const notices: string[] = [];
  beforeAll(async () => {
    bucket = await createTestBucket("publication");
  });
  afterAll(async () => {
    await bucket?.remove();
  });
  const options = (extra = {}) => bucket.options({ onNotice: (m: string) => notices.push(m), ...extra });
  const putRaw = (key: string, body: string) =>
    bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));

  it("never adopts an object it did not write into the manifest", async () => {
    // Already there before the publication: refused up front, nothing written.
    await putRaw("adopt/before/notes.txt", "not part of any checkpoint");
    await expect(
      writeTinyCheckpoint(bucket.uri("adopt/before"), { store: { s3: options() } }),
    ).rejects.toThrow(
      /adopt\/before: holds 1 object\(s\) that no publication owns \(e\.g\. s3:\/\/\S+\/adopt\/before\/notes\.txt\)/,
    );
    expect(await bucket.keys("adopt/before/")).toEqual(["adopt/before/notes.txt"]);

    // Appearing while the publication runs: the commit fails naming it, and no manifest is written.
    const uri = bucket.uri("adopt/during");
    const writer = await CheckpointWriter.begin(uri, { stage: "test", store: { s3: options() } });
    await writer.putJson("config.json", { model_type: "llama" });
    await putRaw("adopt/during/intruder.bin", "x");
    await expect(writer.commit()).rejects.toThrow(
      `${uri}/intruder.bin: present in staging but not written by this publication; refusing to list it in the manifest`,
    );
    expect(await bucket.keys("adopt/during/")).toEqual(["adopt/during/intruder.bin"]);
  });

  it("a marker left after the manifest is harmless: readers accept it and the next writer removes it", async () => {
    const proxy = await startFaultProxy(s3!.endpoint);
    try {
      const uri = bucket.uri("window/ckpt");
      const markerKey = `window/ckpt/${PUBLISHING_MARKER}`;
      // The publisher writes the manifest, then cannot remove its marker (as if it died right there).
      proxy.inject(
        ["internal-error", "internal-error"],
        (r) => r.method === "DELETE" && r.url.includes(PUBLISHING_MARKER),
      );
      const manifest = await writeTinyCheckpoint(uri, {
        store: { s3: options({ endpoint: proxy.endpoint, maxAttempts: 2 }) },
      });
      expect(proxy.pending).toBe(0);
      expect(await bucket.keys("window/ckpt/")).toContain(markerKey);
      expect(notices.at(-1)).toMatch(/published; the publishing marker could not be removed .* harmless/);

      const store = { s3: options() };
      expect((await openCheckpoint(uri, store)).manifest!.id).toBe(manifest.id);
      expect(await verifyCheckpoint(uri, { store })).toMatchObject({ ok: true, problems: [] });
      const copied = await copyCheckpoint(uri, path.join(root, "copy"), { store });
      expect(copied.files).toEqual(manifest.files);

      await expect(writeTinyCheckpoint(uri, { store })).rejects.toThrow(
        new ConflictError(`${uri}: already holds a checkpoint`),
      );
      expect(await bucket.keys("window/ckpt/")).not.toContain(markerKey);
      expect((await verifyCheckpoint(uri, { store })).ok).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("finds and aborts a multipart upload whose CreateMultipartUpload response was lost", async () => {
    const proxy = await startFaultProxy(s3!.endpoint);
    try {
      const store = createS3Store(
        bucket.uri("lost"),
        options({ endpoint: proxy.endpoint, partSize: 5 * MiB }),
      );
      proxy.inject(["lose-response"], (r) => r.method === "POST" && /\?uploads(=|&|$)/.test(r.url));
      const data = randomBytes(12 * MiB);
      const sink = store.createWriter("weights.bin");
      for (let at = 0; at < data.byteLength; at += MiB) await sink.write(data.subarray(at, at + MiB));
      await sink.close();
      expect(proxy.pending).toBe(0);
      expect(proxy.seen.filter((r) => r.method === "POST" && /\?uploads/.test(r.url))).toHaveLength(2);
      expect(sha256(await store.get("weights.bin"))).toBe(sha256(data));
      expect(await bucket.pendingUploads()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
