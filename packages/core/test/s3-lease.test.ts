/**
 * The publication lease on radosgw: a live lease is refused with its owner and age, a stale one is taken over
 * (exactly one of several racing writers wins) and what the crashed writer left is removed, heartbeats keep a
 * long publication's lease, and a writer that lost its lease stops without touching the new holder's files.
 * Leases here last about a second; the server's clock counts whole seconds, so "stale" takes up to ~3 s.
 */
import { randomBytes } from "node:crypto";
import { CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { ConflictError, LetheError } from "../src/errors.js";
import { encodeLease, newLease } from "../src/store/lease.js";
import { PUBLISHING_MARKER } from "../src/store/markers.js";
import { createS3Store } from "../src/store/s3.js";
import type { Staging } from "../src/store/types.js";
import { writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { createTestBucket, s3, type TestBucket } from "./helpers/s3.js";

const MiB = 1 << 20;
const enc = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!s3)("S3 publication lease", () => {
  let bucket: TestBucket;
  const notices: string[] = [];
  beforeAll(async () => {
    bucket = await createTestBucket("lease");
  });
  afterAll(async () => {
    await bucket?.remove();
  });
  const options = (extra = {}) => bucket.options({ onNotice: (m: string) => notices.push(m), ...extra });

  /** What a writer that died mid-upload leaves: its lease (never renewed again), some files, an open upload. */
  async function plantCrashedWriter(prefix: string, leaseMs = 1000): Promise<void> {
    const put = (key: string, body: Uint8Array) =>
      bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: `${prefix}/${key}`, Body: body }));
    await put("config.json", enc("{}"));
    await put("tokenizer_config.json", enc("{}"));
    const { UploadId } = await bucket.client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: `${prefix}/model.safetensors` }),
    );
    await bucket.client.send(
      new UploadPartCommand({
        Bucket: bucket.name,
        Key: `${prefix}/model.safetensors`,
        UploadId,
        PartNumber: 1,
        Body: randomBytes(5 * MiB),
      }),
    );
    // The lease goes last, though a real writer takes it first: the state left behind is the same, and the
    // lease is then fresh for the test that expects it live, however slowly the uploads above ran.
    await put(PUBLISHING_MARKER, encodeLease(newLease(leaseMs)));
  }

  const untilStale = (uri: string) =>
    vi.waitFor(
      async () => expect((await createS3Store(uri, options()).publicationLease?.())?.stale).toBe(true),
      { timeout: 10_000, interval: 200 },
    );

  it("refuses a live lease with its owner and age, and takes over a stale one, removing what it left", async () => {
    const uri = bucket.uri("crashed/ckpt");
    await plantCrashedWriter("crashed/ckpt");
    await expect(writeTinyCheckpoint(uri, { store: { s3: options() } })).rejects.toThrow(
      new RegExp(
        `^another writer is active at ${uri}: host \\S+ pid ${process.pid} \\(publish, token [0-9a-f]{8}\\), started \\S+, lease renewed (under 1s|\\ds) ago`,
      ),
    );
    await expect(openCheckpoint(uri, { s3: options() })).rejects.toThrow(/a publication is in progress/);

    await untilStale(uri);
    const verdict = await verifyCheckpoint(uri, { store: { s3: options() } });
    expect(verdict.problems[0]).toMatch(
      new RegExp(
        `the publication was interrupted; a writer crashed at ${uri}: .* stopped renewing its lease \\d+s ago \\(stale since \\S+Z\\)\\. .*lethe-ckpt cleanup ${uri}$`,
      ),
    );

    notices.length = 0;
    const manifest = await writeTinyCheckpoint(uri, { store: { s3: options() } });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      /^a writer crashed at .* \(stale since .*\); took over its lease .* removed what it left: 2 object\(s\) \(config\.json, tokenizer_config\.json\), 1 unfinished multipart upload\(s\)/,
    );
    expect(await bucket.keys("crashed/ckpt/")).toEqual(
      ["lethe.json", ...manifest.files.map((f) => f.path)].map((p) => `crashed/ckpt/${p}`).sort(),
    );
    expect(await bucket.pendingUploads()).toEqual([]);
    expect((await verifyCheckpoint(uri, { store: { s3: options() } })).ok).toBe(true);
  });

  it("takes over a marker written before leases existed, once it is older than the writer's lease time", async () => {
    const uri = bucket.uri("old-marker/ckpt");
    const old = { writer: "0f0e", host: "gone", pid: 1, since: new Date() };
    await bucket.client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: `old-marker/ckpt/${PUBLISHING_MARKER}`,
        Body: JSON.stringify(old),
      }),
    );
    const store = () => ({ s3: options({ leaseMs: 1000 }) });
    await expect(writeTinyCheckpoint(uri, { store: store() })).rejects.toThrow(
      /another writer is active at .*: an unknown writer \(a marker without a lease\)/,
    );
    await vi.waitFor(
      async () =>
        expect((await createS3Store(uri, options({ leaseMs: 1000 })).publicationLease?.())?.stale).toBe(true),
      { timeout: 10_000, interval: 200 },
    );
    await writeTinyCheckpoint(uri, { store: store() });
    expect((await verifyCheckpoint(uri, { store: store() })).ok).toBe(true);
  });

  it("of several writers racing for a stale lease, exactly one takes it over", async () => {
    const prefixes = ["race/a", "race/b", "race/c", "race/d"];
    for (const p of prefixes) await plantCrashedWriter(p);
    for (const p of prefixes) await untilStale(bucket.uri(p));
    let lostTheSwap = 0;
    for (const p of prefixes) {
      const results = await Promise.allSettled(
        [0, 1, 2, 3].map(() => createS3Store(bucket.uri(p), options()).beginStaging()),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === "fulfilled") continue;
        expect(r.reason).toBeInstanceOf(ConflictError);
        // The losers see a live lease (the winner's), not a crash.
        expect((r.reason as Error).message).toMatch(/^another writer is active at /);
        if (
          (r.reason as Error).message.endsWith("it took over the stale publication before this writer could")
        )
          lostTheSwap++;
      }
      const staging = (won[0] as PromiseFulfilledResult<Staging>).value;
      await staging.store.put("config.json", enc("{}"));
      await staging.commit("lethe.json", enc("{}"));
      expect(await bucket.keys(`${p}/`)).toEqual([`${p}/config.json`, `${p}/lethe.json`]);
    }
    // Losers that read the stale lease before the winner replaced it lose the If-Match swap itself.
    expect(lostTheSwap).toBeGreaterThan(0);
    expect(await bucket.pendingUploads()).toEqual([]);
  });

  it("a live writer keeps its lease through an upload longer than the lease time; a second writer is refused", async () => {
    const uri = bucket.uri("long/ckpt");
    const leaseMs = 1500;
    const writer = await CheckpointWriter.begin(uri, { stage: "test", store: { s3: options({ leaseMs }) } });
    const started = Date.now();
    let refusals = 0;
    // At least 16 rounds (4 refusal checks) however slow the server, and at least 3 lease times.
    for (let i = 0; i < 16 || Date.now() - started <= 3 * leaseMs; i++) {
      await writer.putBytes(`part-${i}.bin`, randomBytes(1024));
      await sleep(250);
      if (i % 4 === 3) {
        await expect(
          createS3Store(uri, options({ leaseMs })).beginStaging(),
          "a second writer while the first renews",
        ).rejects.toThrow(/^another writer is active at .* lease renewed (under 1s|1s) ago/);
        refusals++;
      }
    }
    expect(refusals).toBeGreaterThanOrEqual(3);
    const manifest = await writer.commit();
    expect(Date.now() - started).toBeGreaterThan(3 * leaseMs);
    expect(manifest.files.length).toBeGreaterThan(8);
    expect((await verifyCheckpoint(uri, { store: { s3: options() } })).ok).toBe(true);
  });

  it("a writer whose lease was taken over stops, and leaves the new holder's files alone", async () => {
    const uri = bucket.uri("lost-lease/ckpt");
    const first = await createS3Store(uri, options({ leaseMs: 60_000 })).beginStaging();
    await first.store.put("config.json", enc('{"who":"first"}'));
    // Another writer takes the lease over (as it would after the first one stalled past the lease time).
    await bucket.client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: `lost-lease/ckpt/${PUBLISHING_MARKER}`,
        Body: encodeLease(newLease(60_000)),
      }),
    );
    await expect(first.commit("lethe.json", enc("{}"))).rejects.toThrow(
      new LetheError(
        `${uri}/${PUBLISHING_MARKER}: this publication lost its lease: another writer replaced it (it was taken over as stale, or removed)`,
      ),
    );
    await expect(first.store.put("more.json", enc("{}"))).rejects.toThrow(/lost its lease/);
    await first.abort();
    expect(await bucket.keys("lost-lease/ckpt/")).toEqual([
      `lost-lease/ckpt/${PUBLISHING_MARKER}`,
      "lost-lease/ckpt/config.json",
    ]);
  });
});
