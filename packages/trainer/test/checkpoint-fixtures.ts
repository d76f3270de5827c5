/** Tiny models, configs and data files for the checkpoint tests (file:// stores in a temporary directory). */
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Rng } from "@lethe/core";
import { createTinyModel, type LoadModelOptions, loadModel, type Model } from "@lethe/model";
import { testSessions } from "../../model/test/helpers.js";
import { type TrainConfig, trainConfigSchema } from "../src/config/index.js";
import { AdamW } from "../src/optim/adamw.js";
import type { ParameterSet } from "../src/params.js";

const TEXT = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the door";

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "lethe-ckpt-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function tinyBase(
  dir: string,
  options: { dtype: "F32" | "BF16"; tied: boolean; name?: string },
): Promise<string> {
  const base = path.join(dir, options.name ?? "base");
  await createTinyModel(base, {
    arch: "llama",
    layers: 2,
    hidden: 16,
    heads: 2,
    kvHeads: 1,
    intermediate: 32,
    vocabFrom: TEXT,
    vocabSize: 280,
    seed: 7,
    dtype: options.dtype,
    tieEmbeddings: options.tied,
  });
  return base;
}

export function load(uri: string, adapter?: LoadModelOptions["adapter"]): Promise<Model> {
  return loadModel(uri, { matmulDtype: "float32", sessionCache: testSessions(), adapter: adapter ?? null });
}

/** Two data files and their sha256. */
export async function dataFiles(dir: string): Promise<{ role: string; uri: string; sha256: string }[]> {
  const out = [];
  for (const role of ["forget", "retain"]) {
    const file = path.join(dir, `${role}.jsonl`);
    await writeFile(file, `${JSON.stringify({ id: role, input: "the fox", output: `${role} sleeps` })}\n`);
    out.push({ role, uri: file, sha256: sha256(await readFile(file)) });
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function resolvedConfig(base: string, out: string, mode: "lora" | "full" | "select"): TrainConfig {
  return trainConfigSchema.parse({
    model: base,
    out,
    data: { forget: "forget.jsonl", retain: "retain.jsonl" },
    params: { mode, lora: { r: 4, alpha: 8, target_modules: ["q_proj", "v_proj", "down_proj"] } },
    loss: { forget: "npo" },
  });
}

/** A small seeded stream of floats in [0, 1). */
export function uniform(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.float();
}

/** Moves every master off its starting value (values no bf16 holds exactly), as training would. */
export function perturb(params: ParameterSet, seed: number, scale = 0.05): void {
  const next = uniform(seed);
  for (const p of params.params)
    for (let i = 0; i < p.value.length; i++) p.value[i]! += (next() - 0.5) * scale;
}

/** An AdamW over the set after `steps` updates with seeded gradients: non-trivial m, v and step. */
export function steppedOptimizer(params: ParameterSet, steps: number): AdamW {
  const adam = new AdamW(params.params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  const next = uniform(99);
  for (let s = 0; s < steps; s++) {
    for (const p of params.params) for (let i = 0; i < p.grad.length; i++) p.grad[i] = next() - 0.5;
    adam.step(1e-3);
  }
  return adam;
}

export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    )
  );
}

/** Entries of `dir` (hidden ones included): what an interrupted write must not leave behind. */
export async function entries(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/** Round to nearest, ties to even, written out here independently of core's converter. */
export function bf16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
