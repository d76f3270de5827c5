/**
 * The two SemEval systems, trained for real on a tiny OLMo-style model, measured by the evaluator:
 *
 *   sft (memorise forget + retain) → zju-over, zju-under (LoRA, NPO + KL + NLL) → TIES merge of the two adapters
 *                                  → Adaptive RMU (MLP weights of both layers, hooked at layer 1)
 *
 * Forget/retain are the QA rows of `lethe-data synth` (short answers, so a 200k-parameter model memorises them in
 * seconds). Each unlearned model must raise the forget NLL and lower forget ROUGE-L recall while retain stays
 * within the margin stated per model; the merged adapter must sit between the over- and under-forgetting ones.
 * The learning rates are the presets' scaled up for a tiny model and a few dozen steps (the papers ran 7B models
 * for hundreds of steps); everything else is the preset.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { corpusText, synthesize, type TaskRow } from "@lethe/core";
import { generateRows, LetheEvalModel, rougeLRecall } from "@lethe/evaluator";
import { configFromText, merge } from "@lethe/merger";
import { createTinyModel, type LetheTokenizer, loadModel, loadTokenizer, type Model } from "@lethe/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveTrainConfig } from "../src/config/resolve.js";
import type { PresetName } from "../src/config/schema.js";
import { saveCheckpoint } from "../src/save.js";
import { prepareTraining, runTraining } from "../src/train.js";

const ROWS = 24;
let dir: string;
let forget: TaskRow[];
let retain: TaskRow[];
let tokenizer: LetheTokenizer;

interface Scores {
  forget: { rouge: number; nll: number };
  retain: { rouge: number; nll: number };
}
const scores = new Map<string, Scores>();

async function evaluate(model: Model): Promise<Scores> {
  const em = LetheEvalModel.fromParts(model, tokenizer);
  const side = async (rows: TaskRow[]) => {
    const predictions = await generateRows(em, rows, { maxNewTokens: 24 });
    const rouge = predictions.reduce((s, p) => s + rougeLRecall(p.output, p.generation), 0) / rows.length;
    const ids = rows.map((r) => [...tokenizer.encode(r.input), ...tokenizer.encode(r.output)]);
    const nll = (await model.score(ids, { promptLengths: rows.map((r) => tokenizer.encode(r.input).length) }))
      .loss;
    return { rouge, nll };
  };
  return { forget: await side(forget), retain: await side(retain) };
}

/** Train with a preset (plus overrides), write the final checkpoint, score the trained policy. */
async function trainAndScore(
  name: string,
  preset: PresetName,
  model: string,
  extra: Record<string, unknown>,
) {
  const config = resolveTrainConfig(
    {
      model,
      out: path.join(dir, name),
      data: { forget: path.join(dir, "forget.jsonl"), retain: path.join(dir, "retain.jsonl"), max_len: 48 },
      ...extra,
    },
    { preset },
  );
  const context = await prepareTraining(config, { session: { intraOpNumThreads: 1 } });
  const result = await runTraining(context);
  await saveCheckpoint(context, path.join(dir, name), result.epochs);
  scores.set(name, await evaluate(context.params.policyModel()));
  return result;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lethe-unlearn-"));
  const data = synthesize({ seed: 1, size: "small" });
  const qa = (rows: TaskRow[]) => rows.filter((r) => r.id.includes("qa")).slice(0, ROWS);
  forget = qa(data.forget);
  retain = qa(data.retain);
  const jsonl = (rows: TaskRow[]) => rows.map((r) => JSON.stringify(r)).join("\n");
  await writeFile(path.join(dir, "forget.jsonl"), jsonl(forget));
  await writeFile(path.join(dir, "retain.jsonl"), jsonl(retain));
  const base = path.join(dir, "base");
  await createTinyModel(base, {
    arch: "olmo",
    layers: 2,
    hidden: 64,
    heads: 4,
    intermediate: 256,
    vocabFrom: corpusText(data),
    vocabSize: 512,
    seed: 1,
  });
  tokenizer = await loadTokenizer(base);
  scores.set("base", await evaluate(await loadModel(base)));
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("unlearning a memorised tiny model, measured by the evaluator", () => {
  it("sft memorises forget and retain rows", async () => {
    await trainAndScore("sft", "sft", path.join(dir, "base"), { epochs: 40, optim: { lr: 3e-3 } });
    const base = scores.get("base")!;
    const sft = scores.get("sft")!;
    expect(base.forget.rouge).toBeLessThan(0.2);
    expect(sft.forget.rouge).toBeGreaterThan(0.95);
    expect(sft.retain.rouge).toBeGreaterThan(0.95);
    expect(sft.forget.nll).toBeLessThan(0.1);
  }, 180_000);

  it("zju-over forgets hard and costs retain at most 0.5 ROUGE-L; zju-under forgets less and keeps retain", async () => {
    const sft = path.join(dir, "sft");
    await trainAndScore("zju-over", "zju-over", sft, { epochs: 10, optim: { lr: 2e-3 } });
    await trainAndScore("zju-under", "zju-under", sft, { epochs: 10, optim: { lr: 2e-3 } });
    const memorised = scores.get("sft")!;
    const over = scores.get("zju-over")!;
    const under = scores.get("zju-under")!;
    expect(over.forget.nll).toBeGreaterThan(10 * memorised.forget.nll);
    expect(over.forget.rouge).toBeLessThan(0.5);
    expect(over.retain.rouge).toBeGreaterThan(memorised.retain.rouge - 0.5);
    expect(under.forget.nll).toBeGreaterThan(2 * memorised.forget.nll);
    expect(under.forget.rouge).toBeLessThan(memorised.forget.rouge);
    expect(under.forget.nll).toBeLessThan(over.forget.nll);
    expect(under.retain.rouge).toBeGreaterThan(memorised.retain.rouge - 0.05);
    expect(under.retain.nll).toBeLessThan(memorised.retain.nll + 0.05);
  }, 300_000);

  it("the TIES merge of the two adapters (PEFT factor-wise, density 0.8) sits between them", async () => {
    const yaml = [
      "merge_method: ties",
      `base_model: ${path.join(dir, "sft")}`,
      "models:",
      `  - model: ${path.join(dir, "zju-over")}`,
      "    parameters: {weight: 1.0, density: 0.8}",
      `  - model: ${path.join(dir, "zju-under")}`,
      "    parameters: {weight: 1.0, density: 0.8}",
    ].join("\n");
    await merge(configFromText(yaml, "ties.yml").config, path.join(dir, "merged"), { threads: 1 });
    const merged = await evaluate(
      await loadModel(path.join(dir, "sft"), { adapter: path.join(dir, "merged") }),
    );
    const over = scores.get("zju-over")!;
    const under = scores.get("zju-under")!;
    expect(merged.forget.nll).toBeGreaterThan(under.forget.nll);
    expect(merged.forget.nll).toBeLessThan(over.forget.nll);
    expect(merged.forget.rouge).toBeGreaterThan(over.forget.rouge);
    expect(merged.forget.rouge).toBeLessThan(under.forget.rouge);
    expect(merged.retain.rouge).toBeGreaterThan(scores.get("sft")!.retain.rouge - 0.1);
  }, 120_000);

  it("Adaptive RMU raises the forget NLL and keeps retain within 0.05 ROUGE-L and 0.1 NLL", async () => {
    await trainAndScore("adaptive-rmu", "adaptive-rmu-1b", path.join(dir, "sft"), {
      epochs: 20,
      optim: { lr: 1e-2 },
      params: { select: "model\\.layers\\.(0|1)\\.mlp\\..*" },
      loss: { rmu: { layer: 1, alpha: 1000, coeff: "once" } },
    });
    const memorised = scores.get("sft")!;
    const rmu = scores.get("adaptive-rmu")!;
    expect(rmu.forget.nll).toBeGreaterThan(2 * memorised.forget.nll);
    expect(rmu.forget.rouge).toBeLessThanOrEqual(memorised.forget.rouge);
    expect(rmu.retain.rouge).toBeGreaterThan(memorised.retain.rouge - 0.05);
    expect(rmu.retain.nll).toBeLessThan(memorised.retain.nll + 0.1);
  }, 180_000);
});
