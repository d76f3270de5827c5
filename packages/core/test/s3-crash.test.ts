/**
 * Writers killed with SIGKILL at random points of a `lethe-ckpt cp` to radosgw: once the (short) lease has
 * expired, a rerun takes over, publishes and verifies, and nothing of the crashed writer is left (no stray
 * object, no unfinished upload). Then `verify`/`inspect` on a wedged destination and `lethe-ckpt cleanup`.
 * The CLI runs from the build (`pnpm build`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { CreateMultipartUploadCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { copyCheckpoint } from "../src/checkpoint/copy.js";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { Rng } from "../src/data/rng.js";
import { ConflictError } from "../src/errors.js";
import { ShardedWeightsWriter } from "../src/safetensors/sharded.js";
import { encodeLease, newLease } from "../src/store/lease.js";
import { PUBLISHING_MARKER } from "../src/store/markers.js";
import { createS3Store } from "../src/store/s3.js";
import { writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { binPath, runBin } from "./helpers/cli.js";
import { createTestBucket, s3, type TestBucket } from "./helpers/s3.js";
import { tempDir } from "./helpers/tmp.js";

const MiB = 1 << 20;
const LEASE_SECONDS = 1;
const TRIALS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The kill points are reproducible from the seed printed on failure. */
function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.float();
}

describe.skipIf(!s3)("S3 publication after a SIGKILLed writer", () => {
  const root = tempDir("s3-crash");
  const src = path.join(root, "src");
  let bucket: TestBucket;
  const notices: string[] = [];
  beforeAll(async () => {
    bucket = await createTestBucket("crash");
    // 40 MiB of weights: two parts of the CLI's 32 MiB, so a kill can land inside a multipart upload.
    const writer = await CheckpointWriter.begin(src, { stage: "test" });
    await writer.putJson("config.json", { model_type: "llama" });
    await writer.putJson("tokenizer_config.json", { eos_token: "</s>" });
    const weights = ShardedWeightsWriter.create(writer.store, [
      { name: "w", dtype: "F32", shape: [10 * MiB] },
    ]);
    await weights.writeTensor("w", new Uint8Array(40 * MiB).fill(7));
    await weights.finish();
    await writer.commit();
  });
  afterAll(async () => {
    await bucket?.remove();
  });
  const options = () =>
    bucket.options({ leaseMs: LEASE_SECONDS * 1000, onNotice: (m: string) => notices.push(m) });
  const env = () => ({
    ...process.env,
    AWS_ENDPOINT_URL: s3!.endpoint,
    AWS_REGION: s3!.region,
    AWS_ACCESS_KEY_ID: s3!.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
    LETHE_S3_FORCE_PATH_STYLE: "1",
    LETHE_S3_LEASE_SECONDS: String(LEASE_SECONDS),
  });
  const cp = (dst: string): ChildProcess =>
    spawn(process.execPath, [binPath("core", "lethe-ckpt"), "cp", src, dst], { env: env(), stdio: "ignore" });
  const exited = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("close", () => resolve());
    });
  const uploadsUnder = async (prefix: string) =>
    (await bucket.pendingUploads()).filter((k) => k.startsWith(prefix));

  /** Reruns the copy until the crashed writer's lease has expired and this one takes over. */
  async function rerun(dst: string): Promise<"published" | "already published"> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await copyCheckpoint(src, dst, { store: { s3: options() } });
        return "published";
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        if (/already holds a checkpoint/.test(err.message)) return "already published";
        if (!/^another writer is active/.test(err.message) || Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  }

  const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

  /** Resolves once the writer has taken its lease (the marker is listed), or has exited. */
  async function leaseTaken(prefix: string, child: ChildProcess): Promise<void> {
    const marker = `${prefix}/${PUBLISHING_MARKER}`;
    while (running(child) && !(await bucket.keys(`${prefix}/`)).includes(marker)) await sleep(15);
  }

  it(`${TRIALS} writers killed at random points: each rerun publishes and verifies, nothing is left over`, async () => {
    const seed = Number(process.env.LETHE_CRASH_SEED ?? Date.now() % 1_000_000);
    const next = random(seed);
    const started = Date.now();
    // How long a publication runs once it holds the lease; kill points are drawn within it, counted from the
    // marker's appearance, so that they land in the publication however slow the process is to start.
    // The first copy runs with cold caches: time the second.
    let publishing = 0;
    for (const run of ["crash/warmup-1", "crash/warmup-2"]) {
      const warmup = cp(bucket.uri(run));
      await leaseTaken(run, warmup);
      const leased = Date.now();
      await exited(warmup);
      publishing = Date.now() - leased;
    }
    const outcomes: string[] = [];
    let killed = 0;
    for (let trial = 0; killed < TRIALS && trial < 3 * TRIALS; trial++) {
      const prefix = `crash/t${trial}`;
      const dst = bucket.uri(prefix);
      const child = cp(dst);
      // Every fifth kill lands before the lease (while the SDK loads), the others inside the publication.
      const early = trial % 5 === 4;
      const killAt = Math.round(publishing * next());
      if (!early) await leaseTaken(prefix, child);
      await sleep(early ? killAt / 4 : killAt);
      const wasRunning = running(child);
      child.kill("SIGKILL");
      await exited(child);
      if (wasRunning) killed++;
      // Finished before the kill: its publication is shorter than thought; draw later kills within that.
      else publishing = Math.min(publishing, Math.max(50, killAt));
      const keys = await bucket.keys(`${prefix}/`);
      const left = `${keys.includes(`${prefix}/${PUBLISHING_MARKER}`) ? "marker" : "no marker"}, ${
        keys.includes(`${prefix}/lethe.json`) ? "manifest" : "no manifest"
      }, ${keys.length} object(s), ${(await uploadsUnder(`${prefix}/`)).length} upload(s)`;

      const how = await rerun(dst);
      const when = early ? `${Math.round(killAt / 4)} ms after start` : `${killAt} ms after its lease`;
      const context = `seed ${seed}, trial ${trial}: ${wasRunning ? "killed" : "finished before the kill"} ${when} (left ${left}), rerun: ${how}`;
      outcomes.push(context);
      const verdict = await verifyCheckpoint(dst, { store: { s3: options() } });
      expect(verdict.problems, context).toEqual([]);
      const manifest = (await openCheckpoint(dst, { s3: options() })).manifest!;
      expect(await bucket.keys(`${prefix}/`), context).toEqual(
        ["lethe.json", ...manifest.files.map((f) => f.path)].map((p) => `${prefix}/${p}`).sort(),
      );
      expect(await uploadsUnder(`${prefix}/`), context).toEqual([]);
    }
    console.log(`[crash trials] a publication runs ${publishing} ms after its lease\n${outcomes.join("\n")}`);
    expect(killed, outcomes.join("\n")).toBe(TRIALS);
    expect(outcomes.filter((o) => o.includes("(left marker")).length).toBeGreaterThanOrEqual(TRIALS / 2);
    expect(Date.now() - started).toBeLessThan(200_000);
  }, 240_000);

  it("verify and inspect call a wedged destination stale; cleanup removes it and orphaned uploads, and nothing published", async () => {
    const wedged = bucket.uri("wedged/ckpt");
    const child = cp(wedged);
    await vi.waitFor(async () => expect(await uploadsUnder("wedged/ckpt/")).not.toEqual([]), {
      timeout: 30_000,
      interval: 20,
    });
    child.kill("SIGKILL");
    await exited(child);

    // A published checkpoint with a marker left after its manifest, and one without.
    const published = bucket.uri("published/ckpt");
    await writeTinyCheckpoint(published, { store: { s3: options() } });
    await bucket.client.send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: `published/ckpt/${PUBLISHING_MARKER}`,
        Body: encodeLease(newLease(1000)),
      }),
    );
    const kept = bucket.uri("kept/ckpt");
    await writeTinyCheckpoint(kept, { store: { s3: options() } });
    // A live publication with an upload under way, and an upload nobody will finish.
    const live = await createS3Store(
      bucket.uri("live/ckpt"),
      bucket.options({ leaseMs: 60_000, partSize: 5 * MiB }),
    ).beginStaging();
    const sink = live.store.createWriter("model.safetensors");
    await sink.write(new Uint8Array(6 * MiB));
    await vi.waitFor(async () => expect(await uploadsUnder("live/ckpt/")).toHaveLength(1), {
      timeout: 20_000,
    });
    await bucket.client.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: "orphan/x.bin" }));

    await vi.waitFor(
      async () => expect((await createS3Store(wedged, options()).publicationLease?.())?.stale).toBe(true),
      { timeout: 10_000, interval: 200 },
    );
    for (const command of ["verify", "inspect"]) {
      const out = await runBin("core", "lethe-ckpt", [command, wedged], { env: env() });
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(
        new RegExp(
          `no checkpoint .*the publication was interrupted; a writer crashed at ${wedged}: host \\S+ pid \\d+ .*stopped renewing its lease \\d+s ago \\(stale since \\S+\\)\\. .*lethe-ckpt cleanup ${wedged}`,
        ),
      );
    }

    const before = await bucket.keys();
    const dry = await runBin(
      "core",
      "lethe-ckpt",
      ["cleanup", bucket.uri(), "--older-than", "0s", "--dry-run"],
      {
        env: env(),
      },
    );
    expect(dry.stderr).toBe("");
    expect(dry.stdout).toMatch(
      new RegExp(`would be removed: ${wedged}: would remove \\d+ object\\(s\\) and 1 unfinished`),
    );
    expect(dry.stdout).toContain(
      `would be removed: ${published}/${PUBLISHING_MARKER}: left after a published checkpoint`,
    );
    expect(dry.stdout).toContain(`would be aborted: ${bucket.uri("orphan/x.bin")}`);
    expect(dry.stdout).toMatch(new RegExp(`kept: ${bucket.uri("live/ckpt")}: another writer is active`));
    expect(await bucket.keys()).toEqual(before);

    const young = await runBin("core", "lethe-ckpt", ["cleanup", bucket.uri(), "--older-than", "1h"], {
      env: env(),
    });
    expect(young.stdout).toMatch(
      new RegExp(`kept: ${wedged}: stale for \\d+s, less than --older-than 1h00m`),
    );
    expect(await uploadsUnder("orphan/")).toHaveLength(1);

    const run = await runBin("core", "lethe-ckpt", ["cleanup", bucket.name, "--older-than", "0"], {
      env: env(),
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /1 interrupted publication\(s\), 0 leftover marker\(s\), 1 orphaned upload\(s\) cleaned/,
    );
    expect(await bucket.keys("wedged/")).toEqual([]);
    expect(await bucket.keys("published/ckpt/")).not.toContain(`published/ckpt/${PUBLISHING_MARKER}`);
    expect((await verifyCheckpoint(published, { store: { s3: options() } })).ok).toBe(true);
    expect((await verifyCheckpoint(kept, { store: { s3: options() } })).ok).toBe(true);
    expect(await uploadsUnder("wedged/")).toEqual([]);
    expect(await uploadsUnder("orphan/")).toEqual([]);
    expect(await uploadsUnder("live/ckpt/")).toHaveLength(1);
    await sink.abort();
    await live.abort();
  }, 120_000);
});
