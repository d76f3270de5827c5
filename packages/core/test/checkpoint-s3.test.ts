import { spawn } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { copyCheckpoint } from "../src/checkpoint/copy.js";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { ConflictError, NotFoundError } from "../src/errors.js";
import { ShardedWeightsWriter } from "../src/safetensors/sharded.js";
import { PUBLISHING_MARKER } from "../src/store/s3.js";
import { writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { binPath, runBin } from "./helpers/cli.js";
import { createTestBucket, s3, type TestBucket } from "./helpers/s3.js";
import { tempDir } from "./helpers/tmp.js";

describe.skipIf(!s3)("checkpoints on S3", () => {
  const root = tempDir("ckpt-s3");
  let bucket: TestBucket;
  beforeAll(async () => {
    bucket = await createTestBucket("ckpt");
  });
  afterAll(async () => {
    await bucket?.remove();
  });
  const store = () => ({ s3: bucket.options() });
  const env = () => ({
    ...process.env,
    AWS_ENDPOINT_URL: s3!.endpoint,
    AWS_REGION: s3!.region,
    AWS_ACCESS_KEY_ID: s3!.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
    LETHE_S3_FORCE_PATH_STYLE: "1",
  });

  it("publishes with the manifest last and no marker left, and reads back sharded weights", async () => {
    const uri = bucket.uri("pub/one");
    const manifest = await writeTinyCheckpoint(uri, { maxShardBytes: 600, store: store() });
    const keys = await bucket.keys("pub/one/");
    expect(keys).toContain("pub/one/lethe.json");
    expect(keys).not.toContain(`pub/one/${PUBLISHING_MARKER}`);
    expect(keys.filter((k) => k !== "pub/one/lethe.json").sort()).toEqual(
      manifest.files.map((f) => `pub/one/${f.path}`).sort(),
    );
    const ckpt = await openCheckpoint(uri, store());
    expect(ckpt.manifest!.id).toBe(manifest.id);
    expect(ckpt.weights!.names()).toHaveLength(4);
    expect((await verifyCheckpoint(uri, { store: store() })).ok).toBe(true);
  });

  it("lets only one of two concurrent writers publish to the same prefix", async () => {
    const uri = bucket.uri("pub/race");
    const results = await Promise.allSettled([
      writeTinyCheckpoint(uri, { store: store() }),
      writeTinyCheckpoint(uri, { store: store() }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toBeInstanceOf(
      ConflictError,
    );
    expect((await verifyCheckpoint(uri, { store: store() })).ok).toBe(true);
    await expect(writeTinyCheckpoint(uri, { store: store() })).rejects.toThrow(/already holds a checkpoint/);
  });

  it("copies file → s3 → file with identical manifests, verified at each end", async () => {
    const src = path.join(root, "src");
    const manifest = await writeTinyCheckpoint(src, { maxShardBytes: 600 });
    const remote = bucket.uri("copy/ckpt");
    await copyCheckpoint(src, remote, { store: store() });
    expect((await verifyCheckpoint(remote, { store: store() })).ok).toBe(true);
    const back = path.join(root, "back");
    const copied = await copyCheckpoint(remote, back, { store: store() });
    expect(copied.files).toEqual(manifest.files);
    expect((await verifyCheckpoint(back)).ok).toBe(true);
    const cli = await runBin("core", "lethe-ckpt", ["verify", remote], { env: env() });
    expect(cli.stderr).toBe("");
    expect(cli.code).toBe(0);
  });

  it("a cp to S3 killed mid-upload shows no checkpoint at the destination, and the source is intact", async () => {
    const src = path.join(root, "big");
    const writer = await CheckpointWriter.begin(src, { stage: "test" });
    await writer.putJson("config.json", { model_type: "llama" });
    const specs = [{ name: "w", dtype: "F32" as const, shape: [16 * 1024 * 1024] }];
    const weights = ShardedWeightsWriter.create(writer.store, specs);
    await weights.writeTensor("w", new Uint8Array(64 * 1024 * 1024).fill(3));
    await weights.finish();
    await writer.commit();

    const dst = bucket.uri("killed/ckpt");
    const child = spawn(process.execPath, [binPath("core", "lethe-ckpt"), "cp", src, dst], {
      env: env(),
      stdio: "ignore",
    });
    const uploading = async () =>
      (await bucket.keys("killed/ckpt/")).includes(`killed/ckpt/${PUBLISHING_MARKER}`) &&
      (await bucket.pendingUploads()).some((k) => k.startsWith("killed/ckpt/"));
    // Killed the moment an upload is seen: another round trip first could let the copy finish.
    const deadline = Date.now() + 30_000;
    let seen = await uploading();
    while (!seen && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      seen = await uploading();
    }
    child.kill("SIGKILL");
    expect(seen, "an upload in progress within 30 s").toBe(true);
    await new Promise((r) => child.on("close", r));

    expect(await bucket.keys("killed/ckpt/lethe.json")).toEqual([]);
    await expect(openCheckpoint(dst, store())).rejects.toThrow(NotFoundError);
    await expect(openCheckpoint(dst, store())).rejects.toThrow(
      /a publication is in progress; another writer is active at .* lease renewed/,
    );
    const inspect = await runBin("core", "lethe-ckpt", ["inspect", dst], { env: env() });
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain("no checkpoint");
    expect((await verifyCheckpoint(src)).ok).toBe(true);
  });
});
