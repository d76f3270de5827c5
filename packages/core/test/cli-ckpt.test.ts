import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "../src/checkpoint/checkpoint.js";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { NotFoundError } from "../src/errors.js";
import { ShardedWeightsWriter } from "../src/safetensors/sharded.js";
import { patternBytes, specBytes, TINY_SPECS, writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { binPath, runBin } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("cli");

describe("lethe-ckpt", () => {
  it("inspect --json lists every tensor with the sha256 of its raw bytes, and the manifest", async () => {
    const dir = path.join(root, "inspect");
    const manifest = await writeTinyCheckpoint(dir, { maxShardBytes: 600 });
    const r = await runBin("core", "lethe-ckpt", ["inspect", dir, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.manifest.id).toBe(manifest.id);
    const expected = TINY_SPECS.map((s) => ({
      name: s.name,
      dtype: s.dtype,
      shape: s.shape,
      sha256: createHash("sha256")
        .update(patternBytes(s.name, specBytes(s)))
        .digest("hex"),
    })).sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(out.tensors).toEqual(expected);
    const human = await runBin("core", "lethe-ckpt", ["inspect", dir]);
    expect(human.stdout).toContain("manifest: stage test");
    expect(human.stdout).toContain("config: LlamaForCausalLM, 1 layers, hidden 8");
    expect(human.stdout).toContain(`model.norm.weight`);
  });

  it("verify exits 0 on a good checkpoint and 1 with the file named on a bad one", async () => {
    const dir = path.join(root, "verify");
    await writeTinyCheckpoint(dir);
    const good = await runBin("core", "lethe-ckpt", ["verify", dir]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^ok: 3 files/);
    writeFileSync(path.join(dir, "config.json"), "{}");
    const bad = await runBin("core", "lethe-ckpt", ["verify", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^lethe-ckpt verify: .*config\.json: size 2 bytes, the manifest says \d+\n$/);
  });

  it("usage errors exit 2 with the usage text", async () => {
    const r = await runBin("core", "lethe-ckpt", ["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('lethe-ckpt: unknown command "frobnicate"');
    expect(r.stderr).toContain("usage:");
    const missing = await runBin("core", "lethe-ckpt", ["inspect", path.join(root, "nothing-here")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("nothing-here: no checkpoint");
  });

  it("cp copies and verifies", async () => {
    const src = path.join(root, "cp-src");
    const dst = path.join(root, "cp-dst");
    await writeTinyCheckpoint(src);
    const r = await runBin("core", "lethe-ckpt", ["cp", src, `file://${dst}`]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^copied 3 files/);
    expect((await verifyCheckpoint(dst)).ok).toBe(true);
  });

  it("a cp killed mid-copy leaves no checkpoint at the destination and the source intact", async () => {
    const src = path.join(root, "kill-src");
    const dst = path.join(root, "kill-dst");
    // Large enough that the copy takes a while: 2 × 96 MiB tensors.
    const writer = await CheckpointWriter.begin(src, { stage: "test" });
    await writer.putJson("config.json", { model_type: "llama" });
    const specs = [
      { name: "a", dtype: "F32" as const, shape: [24 * 1024 * 1024] },
      { name: "b", dtype: "F32" as const, shape: [24 * 1024 * 1024] },
    ];
    const weights = ShardedWeightsWriter.create(writer.store, specs, { maxShardBytes: 100 * 1024 * 1024 });
    for (const name of weights.order)
      await weights.writeTensor(name, new Uint8Array(96 * 1024 * 1024).fill(7));
    await weights.finish();
    await writer.commit();

    const child = spawn(process.execPath, [binPath("core", "lethe-ckpt"), "cp", src, dst], {
      stdio: "ignore",
    });
    const staged = () =>
      readdirSync(root)
        .filter((n) => n.startsWith(".kill-dst.lethe-staging-"))
        .some((d) => {
          const files = readdirSync(path.join(root, d));
          return files.some(
            (f) => f.includes(".safetensors") && statSync(path.join(root, d, f)).size > 1 << 20,
          );
        });
    const deadline = Date.now() + 20_000;
    while (!staged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(staged()).toBe(true);
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));

    expect(existsSync(dst)).toBe(false);
    await expect(openCheckpoint(dst)).rejects.toThrow(NotFoundError);
    expect((await verifyCheckpoint(src)).ok).toBe(true);
  });
});
