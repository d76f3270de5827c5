/**
 * lethe-train as a user runs it (the built bin): --print-config, a LoRA run with dropout, evaluation and
 * keep-best, recorded by the tracker; --resume from an epoch checkpoint lands on the same weights as an
 * uninterrupted run; `grad` writes the loss, its terms, every gradient and the batch.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { corpusText, openStore, SafetensorsFile, synthesize, type TaskRow } from "@lethe/core";
import { createTinyModel } from "@lethe/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTrainingState } from "../src/checkpoint/index.js";

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, "../bin/lethe-train.js");
let dir: string;
let env: NodeJS.ProcessEnv;

async function train(args: string[]) {
  return run(process.execPath, [BIN, ...args], { cwd: dir, env, maxBuffer: 16 * 2 ** 20 });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lethe-train-cli-"));
  env = { ...process.env, LETHE_RUNS_DIR: path.join(dir, "runs"), LETHE_TRACKER: "local" };
  const data = synthesize({ seed: 2, size: "small" });
  const qa = (rows: TaskRow[]) => rows.filter((r) => r.id.includes("qa")).slice(0, 8);
  await writeFile(
    path.join(dir, "forget.jsonl"),
    qa(data.forget)
      .map((r) => JSON.stringify(r))
      .join("\n"),
  );
  await writeFile(
    path.join(dir, "retain.jsonl"),
    qa(data.retain)
      .map((r) => JSON.stringify(r))
      .join("\n"),
  );
  await createTinyModel(path.join(dir, "base"), {
    arch: "llama",
    layers: 2,
    hidden: 32,
    heads: 2,
    intermediate: 64,
    vocabFrom: corpusText(data),
    vocabSize: 300,
    seed: 3,
  });
  const config = (out: string, epochs: number) =>
    [
      `model: ${path.join(dir, "base")}`,
      `out: ${path.join(dir, out)}`,
      "data:",
      `  forget: ${path.join(dir, "forget.jsonl")}`,
      `  retain: ${path.join(dir, "retain.jsonl")}`,
      "  max_len: 40",
      "params: {mode: lora, lora: {r: 4, alpha: 8, dropout: 0.1}}",
      "loss: {forget: npo, forget_weight: 0.4, retain_kl: 0.4, retain_nll: 0.2}",
      `epochs: ${epochs}`,
      "batch_size: 2",
      "grad_accum: 2",
      "optim: {lr: 1e-3}",
    ].join("\n");
  await writeFile(path.join(dir, "two.yml"), config("two", 2));
  await writeFile(path.join(dir, "resumed.yml"), config("resumed", 2));
}, 120_000);

afterAll(async () => {
  if (!process.env["KEEP"]) await rm(dir, { recursive: true, force: true });
});

describe("lethe-train", () => {
  it("prints a preset's resolved config with overrides applied, typed", async () => {
    const { stdout } = await train(["--preset", "zju-under", "--print-config", "--optim.lr=5e-5"]);
    expect(stdout).toMatch(/^ {2}lr: 0\.00005$/m);
    expect(stdout).toMatch(/^batch_size: 2$/m);
    expect(stdout).toMatch(/^ {2}retain_nll: 0\.4$/m);
  });

  it("names a mistyped override with a suggestion and exits 1", async () => {
    await expect(train(["two.yml", "--optim.lrr=1"])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/optim\.lrr.*did you mean --optim\.lr/s),
    });
  });

  it("trains with evaluation and keep-best, checkpoints every epoch, and records the run", async () => {
    await train([
      "two.yml",
      "--eval.every=epoch",
      "--eval.keep=best",
      "--eval.rows=4",
      "--threads",
      "1",
      "--quiet",
    ]);
    expect((await readdir(path.join(dir, "two"))).sort()).toEqual(["best", "epoch-1", "epoch-2", "final"]);
    // the best evaluation's weights, written once at the end (no optimizer state: it is not a resume point)
    expect(await readdir(path.join(dir, "two", "best"))).not.toContain("trainer_state");
    const adapter = JSON.parse(await readFile(path.join(dir, "two", "final", "adapter_config.json"), "utf8"));
    expect(adapter).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, lora_dropout: 0.1 });
    const runs = await readdir(path.join(dir, "runs"));
    expect(runs.length).toBe(1);
    const runDir = path.join(dir, "runs", runs[0]!);
    const history = (await readFile(path.join(runDir, "history.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const steps = history.filter((r) => "loss" in r);
    expect(steps.length).toBe(4); // 8 rows / (2 × 2) per epoch, 2 epochs
    for (const row of steps)
      for (const k of ["loss/forget", "loss/retain_kl", "loss/retain_nll", "grad_norm", "lr"])
        expect(row).toHaveProperty(k);
    expect(history.some((r) => "eval/task_aggregate" in r)).toBe(true);
    expect(history.some((r) => "delta/layer.0" in r)).toBe(true);
    const runJson = JSON.parse(await readFile(path.join(runDir, "run.json"), "utf8"));
    expect(runJson).toMatchObject({ state: "finished", exit_code: 0, job_type: "train" });
    const artifacts = JSON.parse(await readFile(path.join(runDir, "artifacts.json"), "utf8")) as {
      name: string;
    }[];
    expect(artifacts.map((a) => a.name)).toEqual(
      expect.arrayContaining(["model", "epoch-1", "epoch-2", "final", "best"]),
    );
  }, 180_000);

  it("--resume from epoch 1 gives the same weights and moments as not stopping", async () => {
    await train(["resumed.yml", "--epochs=1", "--threads", "1", "--quiet"]);
    // as after a crash past epoch 1: continue from its checkpoint, into a fresh output
    const out = path.join(dir, "continued");
    const from = path.join(dir, "resumed", "epoch-1");
    await train(["resumed.yml", `--out=${out}`, "--resume", from, "--threads", "1", "--quiet"]);
    expect((await readdir(out)).sort()).toEqual(["epoch-2", "final"]);
    const straight = await readTrainingState(path.join(dir, "two", "final"));
    const resumed = await readTrainingState(path.join(out, "final"));
    expect(resumed.progress!.step).toBe(straight.progress!.step);
    for (const [name, value] of straight.values) {
      expect(Buffer.from(resumed.values.get(name)!.buffer).equals(Buffer.from(value.buffer)), name).toBe(
        true,
      );
    }
    straight.optimizer!.m.forEach((m, k) => {
      expect(Buffer.from(resumed.optimizer!.m[k]!.buffer).equals(Buffer.from(m.buffer))).toBe(true);
    });
  }, 180_000);

  it("--save_every_epoch=false writes only the final checkpoint", async () => {
    const out = path.join(dir, "final-only");
    await train(["two.yml", `--out=${out}`, "--save_every_epoch=false", "--threads", "1", "--quiet"]);
    expect(await readdir(out)).toEqual(["final"]);
  }, 120_000);

  it("grad takes a config without out:, and --out=FILE as well as --out FILE", async () => {
    const yml = (await readFile(path.join(dir, "two.yml"), "utf8")).replace(/^out: .*$/m, "");
    await writeFile(path.join(dir, "grad-only.yml"), yml);
    const { stdout } = await train(["grad", "grad-only.yml", "--out=g2.safetensors", "--threads", "1"]);
    expect(stdout).toMatch(/^g2\.safetensors: loss /);
    expect((await readdir(dir)).filter((f) => f === "grad-only" || f === "g2.safetensors")).toEqual([
      "g2.safetensors",
    ]);
  }, 120_000);

  it("grad writes the loss, its terms, every gradient and the batch as used", async () => {
    const out = path.join(dir, "grad.safetensors");
    const { stdout } = await train(["grad", "two.yml", "--out", out, "--threads", "1"]);
    expect(stdout).toMatch(/loss [\d.]+ \(forget [-\d.]+, retain_kl [-\d.e]+, retain_nll [\d.]+\)/);
    const file = await SafetensorsFile.open(openStore(dir), "grad.safetensors");
    const names = file.names();
    expect(names).toEqual(
      expect.arrayContaining(["loss", "loss.forget", "loss.retain_kl", "loss.retain_nll"]),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        "batch.forget.input_ids",
        "batch.forget.attention_mask",
        "batch.forget.labels",
      ]),
    );
    expect(names).toContain("grad.base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    expect(names.filter((n) => n.startsWith("grad.")).length).toBe(2 * 7 * 2);
    expect(names.filter((n) => n.startsWith("value.")).length).toBe(2 * 7 * 2);
    const ids = file.tensors.find((e) => e.name === "batch.forget.input_ids")!;
    expect(ids.dtype).toBe("I64");
    expect(ids.shape).toEqual([2, 40]); // batch_size 2, prompt_target rows padded to max_len
  }, 120_000);
});
