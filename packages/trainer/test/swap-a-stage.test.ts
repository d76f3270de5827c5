/**
 * `examples/swap-a-stage/run.sh`, run as a user runs it (a few seconds): the three recipes each leave what the
 * README says — a) eval.json from the other tool's generations, with the scores their construction fixes
 * (every 3rd word dropped on forget, every 6th on retain); b) a verified, loadable PEFT adapter TIES-merged from two
 * hand-written adapters; c) a `lethe-train grad` dump whose loss is the zju-over weighting of its terms, with a
 * gradient and a value for every LoRA factor and the batch.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { decodeToFloat32, openStore, SafetensorsFile } from "@lethe/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../core/test/helpers/cli.js";

type Cell = { regurgitation: number; knowledge: number };
let out: string;
let stdout: string;

async function tensors(file: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(openStore(path.dirname(file)), path.basename(file));
}
async function scalar(st: SafetensorsFile, name: string): Promise<number> {
  const t = await st.readTensor(name);
  return decodeToFloat32(t.data, "F32")[0]!;
}

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), "lethe-swap-a-stage-"));
  const result = spawnSync("bash", [path.join(REPO_ROOT, "examples/swap-a-stage/run.sh"), "--out", out], {
    cwd: REPO_ROOT,
    env: { ...process.env, LETHE_RUNS_DIR: path.join(out, "runs") },
    encoding: "utf8",
    timeout: 55_000,
  });
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  stdout = result.stdout;
}, 60_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe("examples/swap-a-stage", () => {
  it("a) scores the other tool's generations with lethe-eval score", async () => {
    const report = JSON.parse(await readFile(path.join(out, "a/eval.json"), "utf8")) as {
      task_aggregate: number;
      final: number | null;
      forget: Record<string, Cell>;
      retain: Record<string, Cell>;
    };
    expect(report.final).toBeNull(); // no MIA, no MMLU
    expect(report.task_aggregate).toBeGreaterThan(0);
    for (const task of ["Task1", "Task2", "Task3"]) {
      const forget = report.forget[task]!.regurgitation;
      const retain = report.retain[task]!.regurgitation;
      // Dropping every k-th word leaves a recall near (k − 1)/k.
      expect(forget, task).toBeGreaterThan(0.55);
      expect(forget, task).toBeLessThan(0.8);
      expect(retain, task).toBeGreaterThan(0.75);
      expect(retain, task).toBeLessThan(0.95);
      expect(retain, task).toBeGreaterThan(forget);
    }
  });

  it("b) TIES-merges the hand-written PEFT adapters into a verified adapter that loads", async () => {
    const config = JSON.parse(await readFile(path.join(out, "b/merged/adapter_config.json"), "utf8"));
    expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 4 });
    expect([...config.target_modules].sort()).toEqual(["down_proj", "q_proj", "v_proj"]);
    const merged = await tensors(path.join(out, "b/merged/adapter_model.safetensors"));
    expect(merged.names()).toHaveLength(2 * 3 * 2); // A and B × 3 modules × 2 layers
    expect(merged.names()).toContain("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
    expect(stdout).toMatch(/^ok: \d+ files, .* verified$/m); // lethe-ckpt verify
    expect(stdout).toContain("parent file://");
    // Loaded by lethe-model forward: the adapter moves the logits away from the base's.
    const logits = /^logits +F32 \[1, 4, 512\] +max \|x − other\| ([0-9.e+-]+)$/m.exec(stdout);
    expect(logits, stdout).not.toBeNull();
    expect(Number(logits![1])).toBeGreaterThan(1e-4);
  });

  it("c) dumps the zju-over loss, its gradients and the batch with lethe-train grad", async () => {
    const grad = await tensors(path.join(out, "c/grad.safetensors"));
    const names = grad.names();
    const loss = await scalar(grad, "loss");
    const forget = await scalar(grad, "loss.forget");
    const kl = await scalar(grad, "loss.retain_kl");
    const nll = await scalar(grad, "loss.retain_nll");
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeCloseTo(0.4 * forget + 0.4 * kl + 0.2 * nll, 4);
    // Fresh LoRA with B = 0: θ = ref, so NPO sits at (2/β)·log 2 and the KL at 0.
    expect(forget).toBeCloseTo((2 / 0.1) * Math.log(2), 3);
    expect(kl).toBeCloseTo(0, 6);
    const grads = names.filter((n) => n.startsWith("grad."));
    expect(grads).toHaveLength(2 * 7 * 2); // A and B × 7 modules × 2 layers
    for (const g of grads) expect(names).toContain(`value.${g.slice(5)}`);
    for (const side of ["forget", "retain"])
      for (const field of ["input_ids", "attention_mask", "labels"])
        expect(grad.entry(`batch.${side}.${field}`)).toMatchObject({ dtype: "I64", shape: [2, 32] });
    expect(stdout).toMatch(/^loss +F32 \[\] += /m); // show-tensors.mjs printed the dump
  });
});
