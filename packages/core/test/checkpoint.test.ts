import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { copyCheckpoint } from "../src/checkpoint/copy.js";
import { parseManifest } from "../src/checkpoint/manifest.js";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { ConflictError, NotFoundError } from "../src/errors.js";
import { ShardedWeightsWriter, WeightsReader } from "../src/safetensors/sharded.js";
import { FileStore } from "../src/store/file.js";
import { patternBytes, specBytes, TINY_SPECS, writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("ckpt");
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("publishing a checkpoint", () => {
  it("writes HF files, then a manifest listing every file with its size and sha256", async () => {
    const dir = path.join(root, "one");
    const manifest = await writeTinyCheckpoint(dir);
    const onDisk = readdirSync(dir).sort();
    expect(onDisk).toEqual(["config.json", "lethe.json", "model.safetensors", "tokenizer_config.json"]);
    expect(manifest.files.map((f) => f.path)).toEqual([
      "config.json",
      "model.safetensors",
      "tokenizer_config.json",
    ]);
    for (const f of manifest.files) {
      const bytes = readFileSync(path.join(dir, f.path));
      expect(f.size).toBe(bytes.length);
      expect(f.sha256).toBe(sha(bytes));
    }
    const stored = parseManifest(readFileSync(path.join(dir, "lethe.json")), "lethe.json");
    expect(stored).toEqual(manifest);
    expect(stored.stage).toBe("test");
    expect(stored.parents).toEqual(["file:///base"]);
    expect(stored.metrics).toEqual({ loss: 0.5 });
    // No staging directories are left beside it.
    expect(readdirSync(root).filter((n) => n.includes("lethe-staging"))).toEqual([]);
  });

  it("reads back every tensor, sharded, through the index", async () => {
    const dir = path.join(root, "sharded");
    await writeTinyCheckpoint(dir, { maxShardBytes: 600 });
    const files = readdirSync(dir).sort();
    expect(files).toContain("model.safetensors.index.json");
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards.every((s) => s.endsWith(`-of-${String(shards.length).padStart(5, "0")}.safetensors`))).toBe(
      true,
    );
    const index = JSON.parse(readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
    expect(index.metadata.total_size).toBe(TINY_SPECS.reduce((a, s) => a + specBytes(s), 0));
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.unverified).toBe(false);
    expect(ckpt.weights!.names().sort()).toEqual(TINY_SPECS.map((s) => s.name).sort());
    for (const spec of TINY_SPECS) {
      const t = await ckpt.weights!.readTensor(spec.name);
      expect(t.dtype).toBe(spec.dtype);
      expect(t.shape).toEqual(spec.shape);
      expect(Buffer.from(t.data).equals(Buffer.from(patternBytes(spec.name, specBytes(spec))))).toBe(true);
    }
    await ckpt.weights!.validate();
  });

  it("refuses to publish over an existing checkpoint, and one of two racing writers wins", async () => {
    const dir = path.join(root, "race");
    await writeTinyCheckpoint(dir);
    await expect(writeTinyCheckpoint(dir)).rejects.toThrow(ConflictError);
    const fresh = path.join(root, "race2");
    const results = await Promise.allSettled([writeTinyCheckpoint(fresh), writeTinyCheckpoint(fresh)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const loser = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(loser.reason).toBeInstanceOf(ConflictError);
    expect((await verifyCheckpoint(fresh)).ok).toBe(true);
    expect(readdirSync(root).filter((n) => n.includes("lethe-staging"))).toEqual([]);
  });

  it("abort leaves nothing at the destination", async () => {
    const dir = path.join(root, "aborted");
    const writer = await CheckpointWriter.begin(dir, { stage: "test" });
    await writer.putJson("config.json", {});
    await writer.abort();
    expect(existsSync(dir)).toBe(false);
    await expect(openCheckpoint(dir)).rejects.toThrow(NotFoundError);
  });

  it("a failed weights write aborts cleanly: no checkpoint appears", async () => {
    const dir = path.join(root, "failed");
    const writer = await CheckpointWriter.begin(dir, { stage: "test" });
    const weights = ShardedWeightsWriter.create(writer.store, TINY_SPECS);
    await expect(weights.writeTensor(weights.order[0]!, new Uint8Array(3))).rejects.toThrow(
      /got only 3 bytes/,
    );
    await weights.abort();
    await writer.abort();
    expect(existsSync(dir)).toBe(false);
  });
});

describe("reading checkpoints", () => {
  it("reads a checkpoint without a manifest as unverified", async () => {
    const dir = path.join(root, "foreign");
    const store = new FileStore(dir);
    await store.put("config.json", new TextEncoder().encode('{"model_type":"llama"}'));
    const w = ShardedWeightsWriter.create(store, [{ name: "w", dtype: "F32", shape: [2] }]);
    await w.writeTensor("w", new Uint8Array(8));
    await w.finish();
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.unverified).toBe(true);
    expect(ckpt.manifest).toBeNull();
    expect(ckpt.config).toEqual({ model_type: "llama" });
    const result = await verifyCheckpoint(dir);
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toContain("no lethe.json: the checkpoint is unverified");
  });

  it("reads a PEFT adapter", async () => {
    const dir = path.join(root, "adapter");
    const writer = await CheckpointWriter.begin(dir, { stage: "train" });
    await writer.putJson("adapter_config.json", {
      peft_type: "LORA",
      r: 2,
      lora_alpha: 4,
      target_modules: ["q_proj"],
    });
    const w = ShardedWeightsWriter.create(
      writer.store,
      [{ name: "base_model.model.q.lora_A.weight", dtype: "F32", shape: [2, 4] }],
      {
        singleFile: "adapter_model.safetensors",
      },
    );
    await w.writeTensor("base_model.model.q.lora_A.weight", new Uint8Array(32));
    await w.finish();
    await writer.commit();
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.weights).toBeNull();
    expect(ckpt.adapter!.config["r"]).toBe(2);
    expect(ckpt.adapter!.weights.names()).toEqual(["base_model.model.q.lora_A.weight"]);
  });

  it("names the file and field of a bad manifest", async () => {
    const dir = path.join(root, "badmanifest");
    await writeTinyCheckpoint(dir);
    const m = JSON.parse(readFileSync(path.join(dir, "lethe.json"), "utf8"));
    m.files[0].sha256 = "xyz";
    writeFileSync(path.join(dir, "lethe.json"), JSON.stringify(m));
    await expect(openCheckpoint(dir)).rejects.toThrow(
      /lethe\.json: field "files\.0\.sha256": must be 64 lowercase hex digits/,
    );
    m.files[0].sha256 = "0".repeat(64);
    m.version = 2;
    writeFileSync(path.join(dir, "lethe.json"), JSON.stringify(m));
    await expect(openCheckpoint(dir)).rejects.toThrow(/manifest version 2 is not supported/);
  });

  it("names a missing shard", async () => {
    const dir = path.join(root, "missingshard");
    await writeTinyCheckpoint(dir, { maxShardBytes: 600 });
    const shard = readdirSync(dir).find((f) => f.startsWith("model-00002"))!;
    const { rmSync } = await import("node:fs");
    rmSync(path.join(dir, shard));
    await expect(WeightsReader.open(new FileStore(dir))).rejects.toThrow(
      `lists shard "${shard}", which does not exist`,
    );
  });
});

describe("verify", () => {
  it("passes a fresh checkpoint and catches a flipped byte, a missing file and an extra file", async () => {
    const dir = path.join(root, "verify");
    await writeTinyCheckpoint(dir);
    const ok = await verifyCheckpoint(dir);
    expect(ok).toMatchObject({ ok: true, filesChecked: 3 });

    const weights = path.join(dir, "model.safetensors");
    const original = readFileSync(weights);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 1]! ^= 1;
    writeFileSync(weights, flipped);
    const bad = await verifyCheckpoint(dir, { stopAtFirst: true });
    expect(bad.ok).toBe(false);
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]).toMatch(/model\.safetensors: sha256 [0-9a-f]{64} does not match the manifest's/);
    writeFileSync(weights, original);

    writeFileSync(path.join(dir, "stray.txt"), "x");
    expect((await verifyCheckpoint(dir)).problems).toEqual([
      expect.stringContaining("stray.txt: present but not listed in the manifest"),
    ]);
    const { rmSync } = await import("node:fs");
    rmSync(path.join(dir, "stray.txt"));
    rmSync(path.join(dir, "config.json"));
    expect((await verifyCheckpoint(dir)).problems[0]).toContain(
      "config.json: listed in the manifest but missing",
    );
  });
});

describe("copy", () => {
  it("copies file → file with the same manifest contents, verified", async () => {
    const src = path.join(root, "copy-src");
    const dst = path.join(root, "copy-dst");
    const manifest = await writeTinyCheckpoint(src, { maxShardBytes: 600 });
    const copied = await copyCheckpoint(src, dst);
    expect(copied.id).toBe(manifest.id);
    expect(copied.files).toEqual(manifest.files);
    expect((await verifyCheckpoint(dst)).ok).toBe(true);
    await expect(copyCheckpoint(src, dst)).rejects.toThrow(ConflictError);
  });

  it("refuses to copy a corrupted source and publishes nothing", async () => {
    const src = path.join(root, "copy-bad-src");
    const dst = path.join(root, "copy-bad-dst");
    await writeTinyCheckpoint(src);
    const weights = path.join(src, "model.safetensors");
    const bytes = readFileSync(weights);
    bytes[bytes.length - 2]! ^= 0xff;
    writeFileSync(weights, bytes);
    await expect(copyCheckpoint(src, dst)).rejects.toThrow(
      /model\.safetensors: sha256 .* does not match the source manifest/,
    );
    expect(existsSync(dst)).toBe(false);
  });
});
