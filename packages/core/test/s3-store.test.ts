/**
 * The s3:// store against a real radosgw (started by the global setup), with a fault-injecting proxy in
 * front of it for the retry tests. No mocks.
 */
import { createHash, randomBytes } from "node:crypto";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ConflictError, LetheError, NotFoundError } from "../src/errors.js";
import { createS3Store, PUBLISHING_MARKER } from "../src/store/s3.js";
import type { ObjectInfo, Store } from "../src/store/types.js";
import { createTestBucket, type FaultProxy, s3, startFaultProxy, type TestBucket } from "./helpers/s3.js";

const MiB = 1 << 20;
const enc = (s: string) => new TextEncoder().encode(s);
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function concat(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  return Buffer.concat(await collect(chunks));
}

/** Same bytes, compared by length and digest: toEqual on megabytes of bytes is slow and its diffs huge. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect({ length: actual.byteLength, sha256: sha256(actual) }).toEqual({
    length: expected.byteLength,
    sha256: sha256(expected),
  });
}

/** Writes `data` through a sink in uneven chunks, so part boundaries fall inside chunks. */
async function writeInChunks(store: Store, key: string, data: Uint8Array, close = true) {
  const sink = store.createWriter(key);
  const step = MiB + 12_345;
  for (let at = 0; at < data.byteLength; at += step) await sink.write(data.subarray(at, at + step));
  if (close) await sink.close();
  return sink;
}

describe.skipIf(!s3)("S3 store on radosgw", () => {
  let bucket: TestBucket;
  let store: Store;

  beforeAll(async () => {
    bucket = await createTestBucket("s3-store");
    store = createS3Store(bucket.uri("runs/a"), bucket.options({ partSize: 5 * MiB, queueSize: 2 }));
  });
  afterAll(async () => {
    await bucket?.remove();
  });

  /** Waits until the server lists an unfinished multipart upload for the key. */
  const uploadStarted = (key: string) =>
    vi.waitFor(async () => expect(await bucket.pendingUploads()).toContain(key), {
      timeout: 20_000,
      interval: 100,
    });

  describe("objects", () => {
    it("puts, heads and gets an object under the store prefix", async () => {
      await store.put("config.json", enc('{"a":1}'));
      expect(store.uri).toBe(`s3://${bucket.name}/runs/a`);
      expect(await bucket.keys("runs/a/config")).toEqual(["runs/a/config.json"]);
      const info = await store.head("config.json");
      expect(info).toMatchObject({ key: "config.json", size: 7 });
      expect(info?.etag).toBe(`"${createHash("md5").update('{"a":1}').digest("hex")}"`);
      expect(new TextDecoder().decode(await store.get("config.json"))).toBe('{"a":1}');
    });

    it("reports a missing object by its s3:// URI", async () => {
      expect(await store.head("missing.bin")).toBeNull();
      const uri = `s3://${bucket.name}/runs/a/missing.bin`;
      await expect(store.get("missing.bin")).rejects.toThrow(new NotFoundError(`${uri}: no such object`));
      await expect(store.getRange("missing.bin", { start: 0, end: 4 })).rejects.toThrow(NotFoundError);
      await expect(collect(store.readStream("missing.bin"))).rejects.toThrow(`${uri}: no such object`);
    });

    it("reads byte ranges and refuses ranges past the end", async () => {
      const data = randomBytes(1000);
      await store.put("small.bin", data);
      expect(Buffer.from(await store.getRange("small.bin", { start: 6, end: 11 }))).toEqual(
        data.subarray(6, 11),
      );
      expect(Buffer.from(await store.getRange("small.bin", { start: 999, end: 1000 }))).toEqual(
        data.subarray(999),
      );
      expect((await store.getRange("small.bin", { start: 5, end: 5 })).byteLength).toBe(0);
      expect(await concat(store.readStream("small.bin", { start: 100, end: 350 }))).toEqual(
        data.subarray(100, 350),
      );
      const uri = `s3://${bucket.name}/runs/a/small.bin`;
      await expect(store.getRange("small.bin", { start: 990, end: 1010 })).rejects.toThrow(
        `${uri}: bytes [990, 1010) run past the end of the object (1000 bytes)`,
      );
      await expect(store.getRange("small.bin", { start: 1000, end: 1001 })).rejects.toThrow(NotFoundError);
      await expect(store.getRange("small.bin", { start: 9, end: 3 })).rejects.toThrow(
        `${uri}: invalid byte range [9, 3)`,
      );
    });

    it("refuses keys that would leave the prefix", async () => {
      await expect(store.put("../escape.json", enc("x"))).rejects.toThrow(LetheError);
      await expect(store.head("a//b")).rejects.toThrow(`invalid key "a//b" in s3://${bucket.name}/runs/a`);
      expect(await bucket.keys("runs/escape")).toEqual([]);
    });

    it("creates only when asked to and nothing exists (If-None-Match: *)", async () => {
      await store.put("once.txt", enc("first"));
      await expect(store.put("once.txt", enc("second"), { ifNoneMatch: true })).rejects.toThrow(
        new ConflictError(`s3://${bucket.name}/runs/a/once.txt: already exists`),
      );
      expect(new TextDecoder().decode(await store.get("once.txt"))).toBe("first");
      await store.put("fresh.txt", enc("new"), { ifNoneMatch: true });
      expect(new TextDecoder().decode(await store.get("fresh.txt"))).toBe("new");
    });

    it("deletes, and deleting a missing object is not an error", async () => {
      await store.put("doomed.txt", enc("x"));
      await store.delete("doomed.txt");
      await store.delete("doomed.txt");
      expect(await store.head("doomed.txt")).toBeNull();
    });

    it("takes endpoint, credentials and path style from the environment when no options are given", async () => {
      vi.stubEnv("AWS_ENDPOINT_URL_S3", s3!.endpoint);
      vi.stubEnv("AWS_ACCESS_KEY_ID", s3!.accessKeyId);
      vi.stubEnv("AWS_SECRET_ACCESS_KEY", s3!.secretAccessKey);
      vi.stubEnv("LETHE_S3_FORCE_PATH_STYLE", "1");
      try {
        const fromEnv = createS3Store(bucket.uri("env"));
        await fromEnv.put("x.txt", enc("from env"));
        const explicit = createS3Store(bucket.uri("env"), bucket.options());
        expect(new TextDecoder().decode(await explicit.get("x.txt"))).toBe("from env");
        expect(await bucket.keys("env/")).toEqual(["env/x.txt"]);
      } finally {
        vi.unstubAllEnvs();
      }
    });

    it("roots a child store at a sub-prefix", async () => {
      const child = store.child("sub/dir/");
      expect(child.uri).toBe(`s3://${bucket.name}/runs/a/sub/dir`);
      await child.put("x.bin", enc("xyz"));
      expect(await store.head("sub/dir/x.bin")).toMatchObject({ key: "sub/dir/x.bin", size: 3 });
      expect((await collect(child.list())).map((o) => o.key)).toEqual(["x.bin"]);
    });
  });

  describe("list", () => {
    it("pages through every key under a prefix, in key order, relative to the store", async () => {
      const proxy = await startFaultProxy(s3!.endpoint);
      try {
        const listed = createS3Store(
          bucket.uri("lists/p"),
          bucket.options({ endpoint: proxy.endpoint, listPageSize: 2 }),
        );
        const keys = ["b.txt", "a.txt", "sub/2.txt", "sub/1.txt", "c/d/e.txt", "sub2.txt", "z.txt"];
        for (const key of keys) await listed.put(key, enc(key));
        await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: "lists/p/a.txt" }));
        await createS3Store(bucket.uri("lists/pq"), bucket.options()).put("outside.txt", enc("no"));
        proxy.seen.length = 0;

        const all: ObjectInfo[] = await collect(listed.list());
        expect(all.map((o) => o.key)).toEqual([...keys].sort());
        expect(all.find((o) => o.key === "sub/1.txt")?.size).toBe(9);
        expect(proxy.seen.filter((r) => r.url.includes("list-type=2"))).toHaveLength(4);

        expect((await collect(listed.list("sub/"))).map((o) => o.key)).toEqual(["sub/1.txt", "sub/2.txt"]);
        expect((await collect(listed.list("sub"))).map((o) => o.key)).toEqual([
          "sub/1.txt",
          "sub/2.txt",
          "sub2.txt",
        ]);
        expect(await collect(listed.list("nothing/"))).toEqual([]);
      } finally {
        await proxy.close();
      }
    });
  });

  describe("streaming writes", () => {
    const data = randomBytes(12 * MiB + 4321);

    it("uploads a large body in parts and reads it back intact, across part boundaries", async () => {
      const sink = await writeInChunks(store, "big.bin", data);
      expect(sink.bytesWritten).toBe(data.byteLength);
      // radosgw returns an empty ETag from CompleteMultipartUpload; HeadObject has the real one.
      const head = await bucket.client.send(
        new HeadObjectCommand({ Bucket: bucket.name, Key: "runs/a/big.bin" }),
      );
      expect(head.ETag).toMatch(/-3"$/);
      expect(head.ContentLength).toBe(data.byteLength);

      expectSameBytes(await store.get("big.bin"), data);
      for (const [start, end] of [
        [5 * MiB - 10, 5 * MiB + 10],
        [10 * MiB - 3, 10 * MiB + 3],
        [MiB, 11 * MiB],
        [data.byteLength - 7, data.byteLength],
      ] as const) {
        expectSameBytes(await store.getRange("big.bin", { start, end }), data.subarray(start, end));
      }
      const streamed = await concat(
        store.readStream("big.bin", { start: 5 * MiB - 100, end: 10 * MiB + 100 }),
      );
      expectSameBytes(streamed, data.subarray(5 * MiB - 100, 10 * MiB + 100));
      expectSameBytes(await concat(store.readStream("big.bin")), data);
    });

    it("shows nothing under the key before close", async () => {
      const sink = await writeInChunks(store, "pending.bin", data.subarray(0, 7 * MiB), false);
      expect(await store.head("pending.bin")).toBeNull();
      expect((await collect(store.list("pending"))).length).toBe(0);
      await sink.close();
      expect((await store.head("pending.bin"))?.size).toBe(7 * MiB);
      expect(await bucket.pendingUploads()).not.toContain("runs/a/pending.bin");
    });

    it("writes small and empty bodies as single objects", async () => {
      const small = store.createWriter("small-stream.txt");
      await small.write(enc("hello "));
      await small.write(enc("world"));
      await small.close();
      expect(new TextDecoder().decode(await store.get("small-stream.txt"))).toBe("hello world");
      const empty = store.createWriter("empty.bin");
      await empty.close();
      expect(await store.head("empty.bin")).toMatchObject({ size: 0 });
      expect((await store.get("empty.bin")).byteLength).toBe(0);
    });

    it("copies written chunks, so the caller may reuse its buffer", async () => {
      const sink = store.createWriter("reused.bin");
      const buffer = new Uint8Array(2 * MiB);
      for (let i = 0; i < 3; i++) {
        buffer.fill(i + 1);
        await sink.write(buffer);
      }
      await sink.close();
      const back = await store.get("reused.bin");
      expect([back[0], back[2 * MiB], back[4 * MiB], back[6 * MiB - 1]]).toEqual([1, 2, 3, 3]);
    });

    it("abort leaves neither an object nor an unfinished upload", async () => {
      const sink = await writeInChunks(store, "aborted.bin", data.subarray(0, 7 * MiB), false);
      await uploadStarted("runs/a/aborted.bin");
      await sink.abort();
      await sink.abort();
      expect(await store.head("aborted.bin")).toBeNull();
      expect(await bucket.pendingUploads()).not.toContain("runs/a/aborted.bin");
      await expect(sink.write(enc("more"))).rejects.toThrow("cannot write to a writer that is aborted");
      const never = store.createWriter("never-started.bin");
      await never.abort();
      expect(await store.head("never-started.bin")).toBeNull();
    });
  });

  describe("staging (atomic checkpoint publication)", () => {
    it("publishes the files, then the manifest, then removes the marker", async () => {
      const target = createS3Store(bucket.uri("ckpt/one"), bucket.options({ partSize: 5 * MiB }));
      const staging = await target.beginStaging();
      expect(await target.head(PUBLISHING_MARKER)).not.toBeNull();

      const weights = randomBytes(6 * MiB);
      await staging.store.put("config.json", enc("{}"));
      await writeInChunks(staging.store, "model.safetensors", weights);
      await staging.store.child("tokenizer").put("tokenizer.json", enc("[]"));
      // Files are in place, the manifest is not: a reader sees an unfinished publication.
      expect(await target.head("model.safetensors")).not.toBeNull();
      expect(await target.head("lethe.json")).toBeNull();
      expect((await collect(staging.store.list())).map((o) => o.key)).toEqual([
        "config.json",
        "model.safetensors",
        "tokenizer/tokenizer.json",
      ]);

      await staging.commit("lethe.json", enc('{"files":3}'));
      expect(await bucket.keys("ckpt/one/")).toEqual([
        "ckpt/one/config.json",
        "ckpt/one/lethe.json",
        "ckpt/one/model.safetensors",
        "ckpt/one/tokenizer/tokenizer.json",
      ]);
      expect(sha256(await target.get("model.safetensors"))).toBe(sha256(weights));
      await staging.abort(); // after commit: nothing to undo
      expect(await target.head("config.json")).not.toBeNull();
      await expect(staging.store.put("late.txt", enc("x"))).rejects.toThrow("already committed");
      await expect(target.beginStaging()).rejects.toThrow(
        new ConflictError(`s3://${bucket.name}/ckpt/one: already holds a checkpoint`),
      );
    });

    it("the manifest is the last object written and the marker goes after it", async () => {
      const proxy = await startFaultProxy(s3!.endpoint);
      try {
        const target = createS3Store(bucket.uri("ckpt/order"), bucket.options({ endpoint: proxy.endpoint }));
        const staging = await target.beginStaging();
        await staging.store.put("a.bin", enc("a"));
        await staging.store.put("b.bin", enc("b"));
        await staging.commit("lethe.json", enc("{}"));
        const writes = proxy.seen
          .filter((r) => r.method === "PUT" || r.method === "DELETE")
          .map((r) => `${r.method} ${r.url.replace(`/${bucket.name}/ckpt/order/`, "").replace(/\?.*$/, "")}`);
        expect(writes).toEqual([
          `PUT ${PUBLISHING_MARKER}`,
          "PUT a.bin",
          "PUT b.bin",
          `PUT ${PUBLISHING_MARKER}`, // the last renewal of the lease proves it is still ours
          "PUT lethe.json",
          `DELETE ${PUBLISHING_MARKER}`,
        ]);
      } finally {
        await proxy.close();
      }
    });

    it("refuses a second publication to the same prefix while one is open", async () => {
      const uri = bucket.uri("ckpt/two");
      const first = await createS3Store(uri, bucket.options()).beginStaging();
      const other = createS3Store(uri, bucket.options());
      const refused = await other.beginStaging().catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ConflictError);
      expect((refused as Error).message).toMatch(
        new RegExp(
          `^another writer is active at ${uri}: host \\S+ pid ${process.pid} \\(publish, token [0-9a-f]{8}\\), started \\S+, lease renewed (under 1s|\\ds) ago \\(stale after 5m00s without renewal\\)$`,
        ),
      );
      await first.abort();
      const again = await other.beginStaging();
      await again.commit("lethe.json", enc("{}"));
      expect(await bucket.keys("ckpt/two/")).toEqual(["ckpt/two/lethe.json"]);
    });

    it("abort removes every staged object, open writers included, and the marker", async () => {
      const target = createS3Store(bucket.uri("ckpt/three"), bucket.options({ partSize: 5 * MiB }));
      const staging = await target.beginStaging();
      // Written past the lease by someone else: not this publication's to remove.
      await target.put("unrelated-before.txt", enc("keep"));
      await staging.store.put("config.json", enc("{}"));
      await writeInChunks(staging.store, "model-00001-of-00002.safetensors", randomBytes(6 * MiB));
      await staging.store.child("sub").put("x.json", enc("1"));
      await staging.store.put("gone.json", enc("2"));
      await staging.store.delete("gone.json");
      const open = await writeInChunks(
        staging.store,
        "model-00002-of-00002.safetensors",
        randomBytes(7 * MiB),
        false,
      );
      await expect(staging.commit("lethe.json", enc("{}"))).rejects.toThrow("1 writer(s) are still open");
      await uploadStarted("ckpt/three/model-00002-of-00002.safetensors");

      await staging.abort();
      expect(await bucket.keys("ckpt/three/")).toEqual(["ckpt/three/unrelated-before.txt"]);
      expect((await bucket.pendingUploads()).filter((k) => k.startsWith("ckpt/three/"))).toEqual([]);
      await expect(open.write(enc("x"))).rejects.toThrow(LetheError);
      await expect(staging.commit("lethe.json", enc("{}"))).rejects.toThrow("already aborted");
    });
  });
});

describe.skipIf(!s3)("S3 store retries (fault-injecting proxy in front of radosgw)", () => {
  let bucket: TestBucket;
  let proxy: FaultProxy;
  const storeAt = (path: string, maxAttempts = 5) =>
    createS3Store(
      bucket.uri(path),
      bucket.options({ endpoint: proxy.endpoint, maxAttempts, partSize: 5 * MiB }),
    );

  beforeAll(async () => {
    bucket = await createTestBucket("s3-retries");
    proxy = await startFaultProxy(s3!.endpoint, { maxRequests: 400, lifetimeMs: 60_000 });
  });
  afterAll(async () => {
    await proxy?.close();
    await bucket?.remove();
  });

  it("retries a put through 503 SlowDown, 429, 500 and a dropped connection", async () => {
    const store = storeAt("put");
    const data = randomBytes(64 * 1024);
    proxy.seen.length = 0;
    proxy.inject(["slowdown", "too-many-requests", "internal-error", "drop"]);
    await store.put("obj.bin", data);
    expect(proxy.seen.map((r) => `${r.method} ${r.fault ?? "ok"}`)).toEqual([
      "PUT slowdown",
      "PUT too-many-requests",
      "PUT internal-error",
      "PUT drop",
      "PUT ok",
    ]);
    expect(sha256(await store.get("obj.bin"))).toBe(sha256(data));
  });

  it("retries failed parts of a multipart upload", async () => {
    const store = storeAt("multipart");
    const data = randomBytes(7 * MiB);
    proxy.seen.length = 0;
    proxy.inject(
      ["drop", "slowdown", "internal-error"],
      (r) => r.method === "PUT" && r.url.includes("partNumber="),
    );
    await writeInChunks(store, "parts.bin", data);
    expect(proxy.pending).toBe(0);
    const partPuts = proxy.seen.filter((r) => r.method === "PUT" && r.url.includes("partNumber="));
    expect(partPuts).toHaveLength(2 + 3);
    expect(sha256(await store.get("parts.bin"))).toBe(sha256(data));
  });

  it("a part that keeps failing fails the writer, which then leaves nothing behind", async () => {
    const store = createS3Store(
      bucket.uri("failing"),
      bucket.options({ endpoint: proxy.endpoint, maxAttempts: 2, partSize: 5 * MiB, queueSize: 1 }),
    );
    proxy.inject(
      ["internal-error", "internal-error"],
      (r) => r.method === "PUT" && r.url.includes("partNumber=1&"),
    );
    const sink = store.createWriter("doomed.bin");
    const attempt = (async () => {
      for (let i = 0; i < 4; i++) await sink.write(randomBytes(3 * MiB));
      await sink.close();
    })();
    await expect(attempt).rejects.toThrow(
      `s3://${bucket.name}/failing/doomed.bin: S3 UploadPart 1 failed after 2 attempts: InternalError (HTTP 500): ` +
        "We encountered an internal error. Please try again.",
    );
    await sink.abort();
    expect(await bucket.keys("failing/")).toEqual([]);
    expect(await bucket.pendingUploads()).not.toContain("failing/doomed.bin");
  });

  it("resumes a read whose body dies midway, from the first missing byte", async () => {
    const store = storeAt("read");
    const data = randomBytes(3 * MiB);
    await store.put("body.bin", data);
    proxy.seen.length = 0;
    proxy.inject(["truncate-body", "truncate-body"], (r) => r.method === "GET");
    const back = await store.get("body.bin");
    expect(sha256(back)).toBe(sha256(data));
    const gets = proxy.seen.filter((r) => r.method === "GET");
    expect(gets.map((r) => r.fault ?? "ok")).toEqual(["truncate-body", "truncate-body", "ok"]);
    // Each retry asks for the rest only: half of 3 MiB, then half of the remaining 1.5 MiB.
    const half = (3 * MiB) / 2;
    expect(gets.map((r) => r.range)).toEqual([
      undefined,
      `bytes=${half}-${3 * MiB - 1}`,
      `bytes=${half + half / 2}-${3 * MiB - 1}`,
    ]);

    proxy.inject(["truncate-body"], (r) => r.method === "GET");
    const range = { start: 1000, end: 1000 + 2 * MiB };
    expectSameBytes(await store.getRange("body.bin", range), data.subarray(range.start, range.end));
  });

  it("a create-only put whose response was lost is not mistaken for a conflict", async () => {
    const store = storeAt("lost");
    proxy.seen.length = 0;
    proxy.inject(["lose-response"]);
    await store.put("manifest.json", enc('{"v":1}'), { ifNoneMatch: true });
    expect(proxy.seen.map((r) => `${r.method} ${r.fault ?? "ok"}`)).toEqual([
      "PUT lose-response",
      "PUT ok",
      "HEAD ok",
    ]);
    await expect(store.put("manifest.json", enc('{"v":2}'), { ifNoneMatch: true })).rejects.toThrow(
      ConflictError,
    );
  });

  it("gives up after maxAttempts with an error naming the object, the operation and the cause", async () => {
    const store = storeAt("give-up", 3);
    proxy.seen.length = 0;
    proxy.inject(["slowdown", "slowdown", "slowdown", "slowdown"]);
    await expect(store.put("x.bin", enc("x"))).rejects.toThrow(
      `s3://${bucket.name}/give-up/x.bin: S3 PutObject failed after 3 attempts: SlowDown (HTTP 503): Please reduce your request rate.`,
    );
    expect(proxy.seen).toHaveLength(3);
    proxy.inject([]);

    // A read that makes progress keeps going; one that fails maxAttempts times in a row gives up.
    await store.put("y.bin", randomBytes(MiB));
    proxy.seen.length = 0;
    proxy.inject(["truncate-body", "empty-body", "empty-body", "empty-body"], (r) => r.method === "GET");
    await expect(store.get("y.bin")).rejects.toThrow(
      new RegExp(`^s3://${bucket.name}/give-up/y.bin: reading failed at byte ${MiB / 2} after 3 attempts: `),
    );
    expect(proxy.seen.map((r) => r.fault)).toEqual(["truncate-body", "empty-body", "empty-body"]);
    proxy.inject([]);
  });

  it("does not retry a client error", async () => {
    const store = storeAt("client-error");
    proxy.seen.length = 0;
    expect(await store.head("nope")).toBeNull();
    await expect(store.get("nope")).rejects.toThrow(NotFoundError);
    expect(proxy.seen.map((r) => r.method)).toEqual(["HEAD", "GET"]);
  });
});
