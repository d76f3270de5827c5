import { readFileSync } from "node:fs";
import * as path from "node:path";
import { openCheckpoint, tensorToFloat32 } from "@lethe/core";
import { forward } from "@lethe/model";
import { beforeAll, describe, expect, it } from "vitest";
import { compareResidualStreams } from "../src/layers/residual.js";
import { loraDeltaSquaredNorm, weightDeltas } from "../src/layers/weight-delta.js";
import type { EvalLogger, SummaryValue, TableCell } from "../src/logging.js";
import { cleanUpTokenization, LetheEvalModel } from "../src/model/lethe-eval-model.js";
import { runEvaluation } from "../src/run.js";
import { scoreFiles } from "../src/score-files.js";
import {
  adapterCheckpoint,
  editedCheckpoint,
  type TinySetup,
  tempDir,
  tinySetup,
} from "./helpers/fixtures.js";

const dir = tempDir("model");
let setup: TinySetup;
let model: LetheEvalModel;
const EDITED_TENSOR = "model.layers.1.mlp.down_proj.weight";

beforeAll(async () => {
  setup = await tinySetup(dir);
  model = await LetheEvalModel.load(setup.base);
  await editedCheckpoint(setup.base, path.join(dir, "edited"), (name, w) =>
    name === EDITED_TENSOR ? w.map((x) => -x) : undefined,
  );
}, 180_000);

/** log-softmax of one logits row, in float64. */
function logSoftmax(row: Float32Array): number[] {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return Array.from(row, (v) => v - max - Math.log(sum));
}

async function fullLogits(ids: number[]): Promise<Float32Array[]> {
  const r = await forward(model.model, [ids], { logits: true });
  const vocab = r.logits!.length / ids.length;
  return ids.map((_, t) => r.logits!.subarray(t * vocab, (t + 1) * vocab));
}

describe("LetheEvalModel (tiny model)", () => {
  it("generates the same text for a prompt in a left-padded batch as alone", async () => {
    const prompts = setup.dataset.forget.slice(0, 3).map((r) => r.input);
    const batched = await model.generate(prompts, { maxNewTokens: 6 });
    const alone = [];
    for (const p of prompts) alone.push(...(await model.generate([p], { maxNewTokens: 6 })));
    expect(batched).toEqual(alone);
  });

  it("mean NLL is the mean next-token cross-entropy over the whole text (HF loss with labels = ids)", async () => {
    const texts = [setup.dataset.member[0]!.document, "A short one."];
    const nll = await model.meanNll(texts);
    for (const [i, text] of texts.entries()) {
      const ids = model.tokenize(text);
      const logits = await fullLogits(ids);
      let total = 0;
      for (let t = 1; t < ids.length; t++) total -= logSoftmax(logits[t - 1]!)[ids[t]!]!;
      expect(nll[i]).toBeCloseTo(total / (ids.length - 1), 4);
    }
  });

  it("next-token log-probs are the log-softmax at the prompt's last position", async () => {
    const prompts = ["Question: what?\nAnswer:", "Hi"];
    const candidates = [3, 7, 11];
    const got = await model.nextTokenLogProbs(prompts, candidates);
    for (const [i, p] of prompts.entries()) {
      const ids = model.tokenize(p);
      const last = logSoftmax((await fullLogits(ids)).at(-1)!);
      for (const [j, id] of candidates.entries()) expect(got[i]![j]).toBeCloseTo(last[id]!, 4);
    }
  });

  it("applies Hugging Face's tokenization clean-up once", () => {
    expect(cleanUpTokenization("I do n't know , he said . Is it ?")).toBe("I don't know, he said. Is it?");
    expect(cleanUpTokenization("a  .")).toBe("a ."); // one pass, as str.replace
  });
});

describe("layer-wise analysis", () => {
  it("finds no change against itself", async () => {
    const texts = setup.dataset.forget.slice(0, 3).map((r) => `${r.input} ${r.output}`);
    const { residual } = await compareResidualStreams(model, model, { forget: texts, retain: texts });
    for (const layer of residual) {
      expect(layer.forget_cosine).toBeCloseTo(1, 6);
      expect(layer.retain_norm_ratio).toBeCloseTo(1, 6);
    }
  });

  it("shows an edit from the edited layer on, and its weight delta in that module only", async () => {
    const edited = await LetheEvalModel.load(path.join(dir, "edited"));
    const text = (rows: typeof setup.dataset.forget) => rows.slice(0, 3).map((r) => `${r.input} ${r.output}`);
    const { residual, forget_tokens } = await compareResidualStreams(edited, model, {
      forget: text(setup.dataset.forget),
      retain: text(setup.dataset.retain),
    });
    expect(forget_tokens).toBeGreaterThan(0);
    expect(residual.map((r) => r.layer)).toEqual([0, 1]);
    expect(residual[0]!.forget_cosine).toBeCloseTo(1, 6); // layer 0 is untouched
    expect(residual[0]!.forget_norm_ratio).toBeCloseTo(1, 6);
    expect(residual[1]!.forget_cosine).toBeLessThan(0.999);
    expect(residual[1]!.retain_cosine).toBeLessThan(0.999);

    const deltas = await weightDeltas(path.join(dir, "edited"), setup.base);
    const changed = deltas.filter((d) => d.delta_norm > 0);
    expect(changed).toHaveLength(1);
    // W' = −W, so ‖W' − W‖ = 2‖W‖ exactly.
    expect(changed[0]).toMatchObject({ layer: 1, module: "mlp.down_proj.weight", relative: 2 });
    expect(deltas.find((d) => d.module === "model.embed_tokens.weight")?.layer).toBeNull();
  });

  it("includes a LoRA adapter: s·B·A alone, or added to a full-weight change", async () => {
    // down_proj of the tiny model: [hidden 32, intermediate 64]; rank 2, alpha 4 → scaling 2.
    const shape = { rank: 2, inFeatures: 64, outFeatures: 32, alpha: 4 };
    const a = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i) / 4);
    const b = Float32Array.from({ length: 32 * 2 }, (_, i) => Math.cos(i) / 4);
    const adapter = path.join(dir, "adapter");
    await adapterCheckpoint(adapter, "model.layers.1.mlp.down_proj", a, b, shape);
    const product = (o: number, c: number) => 2 * (b[o * 2]! * a[c]! + b[o * 2 + 1]! * a[64 + c]!);

    const base = await openCheckpoint(setup.base);
    const w0 = tensorToFloat32(await base.weights!.readTensor(EDITED_TENSOR));
    let adapterOnly = 0;
    let withEdit = 0; // W' − W + s·B·A with W' = −W
    for (let o = 0; o < 32; o++) {
      for (let c = 0; c < 64; c++) {
        adapterOnly += product(o, c) ** 2;
        withEdit += (-2 * w0[o * 64 + c]! + product(o, c)) ** 2;
      }
    }
    const onAdapter = await weightDeltas(setup.base, setup.base, { adapterUri: adapter });
    expect(onAdapter.filter((d) => d.delta_norm > 0).map((d) => [d.layer, d.module])).toEqual([
      [1, "mlp.down_proj.weight"],
    ]);
    expect(onAdapter.find((d) => d.delta_norm > 0)!.delta_norm).toBeCloseTo(Math.sqrt(adapterOnly), 5);
    const onEdited = await weightDeltas(path.join(dir, "edited"), setup.base, { adapterUri: adapter });
    expect(onEdited.find((d) => d.delta_norm > 0)!.delta_norm).toBeCloseTo(Math.sqrt(withEdit), 4);

    // The model runs the adapter: layer 0 is untouched, layer 1 moves.
    const adapted = await LetheEvalModel.load(setup.base, { adapter });
    const texts = setup.dataset.forget.slice(0, 2).map((r) => r.input);
    const { residual } = await compareResidualStreams(adapted, model, { forget: texts, retain: texts });
    expect(residual[0]!.forget_cosine).toBeCloseTo(1, 6);
    expect(residual[1]!.forget_cosine).toBeLessThan(0.9999);
  });

  it("computes a LoRA delta's norm from the r×r Gram matrices", () => {
    const rank = 3;
    const inDim = 5;
    const outDim = 4;
    let seed = 3;
    const rnd = () => {
      seed = (seed * 48271) % 2147483647;
      return (seed / 2147483647) * 2 - 1;
    };
    const a = Float32Array.from({ length: rank * inDim }, rnd);
    const b = Float32Array.from({ length: outDim * rank }, rnd);
    let explicit = 0;
    for (let o = 0; o < outDim; o++) {
      for (let c = 0; c < inDim; c++) {
        let v = 0;
        for (let k = 0; k < rank; k++) v += b[o * rank + k]! * a[k * inDim + c]!;
        explicit += (2 * v) ** 2;
      }
    }
    expect(loraDeltaSquaredNorm(a, b, rank, 2)).toBeCloseTo(explicit, 10);
  });
});

describe("runEvaluation (tiny model, synthetic data)", () => {
  it("writes predictions that `score` turns into the same report, and logs to the hook", async () => {
    const summaries: Record<string, SummaryValue>[] = [];
    const tables: { name: string; columns: string[]; rows: TableCell[][] }[] = [];
    const logger: EvalLogger = {
      summary: (values) => void summaries.push(values),
      table: (name, columns, rows) => void tables.push({ name, columns, rows }),
    };
    const predictions = path.join(dir, "predictions");
    const d = setup.data;
    const report = await runEvaluation(
      model,
      {
        forget: path.join(d, "forget.jsonl"),
        retain: path.join(d, "retain.parquet"),
        miaMember: path.join(d, "member.jsonl"),
        miaNonmember: path.join(d, "nonmember.jsonl"),
        mmlu: path.join(d, "mmlu"),
      },
      { maxNewTokens: 4, batchSize: 16, ntrain: 1, predictionsDir: predictions, logger },
    );
    expect(report.forget.Task2?.qa_rows).toBeGreaterThan(0);
    expect(report.task_aggregate_terms).toHaveLength(12);
    expect(report.mmlu_details?.questions).toBe(24);
    expect(report.mmlu).toBe(
      Object.values(report.mmlu_details!.subjects).reduce((s, x) => s + x.accuracy * x.questions, 0) / 24,
    );
    expect(report.final).not.toBeNull();

    const rescored = await scoreFiles({
      forget: path.join(predictions, "forget.jsonl"),
      retain: path.join(predictions, "retain.jsonl"),
      miaMember: path.join(predictions, "member_nll.jsonl"),
      miaNonmember: path.join(predictions, "nonmember_nll.jsonl"),
      mmluAccuracy: report.mmlu!,
    });
    for (const key of [
      "task_aggregate",
      "mia_auc",
      "mia_score",
      "mmlu",
      "final",
      "forget",
      "retain",
    ] as const) {
      expect(rescored[key]).toEqual(report[key]);
    }
    const firstRow = JSON.parse(readFileSync(path.join(predictions, "forget.jsonl"), "utf8").split("\n")[0]!);
    expect(Object.keys(firstRow)).toEqual(["id", "input", "output", "task", "split", "generation"]);

    expect(summaries).toHaveLength(1);
    expect(summaries[0]!["eval/final"]).toBe(report.final);
    expect(summaries[0]!["eval/forget/Task1/regurgitation"]).toBe(report.forget.Task1!.regurgitation);
    expect(tables.map((t) => t.name)).toEqual(["eval.task_aggregate_terms"]);
  }, 120_000);
});
