/**
 * @lethe/evaluator benchmark on the synthetic data (`lethe-data synth --size small`) and a tiny OLMo-style model
 * (4 layers × 64, vocabulary 512 trained on the corpus):
 * - generation tokens/s of `generateRows` (the evaluator's path: rows sorted by length, left-padded batches
 *   of 8) against one row at a time (the baseline: the official script generates row by row);
 * - scored rows/s of the official scoring (`buildReport`: ROUGE-L recall with rouge_score's tokenizer and
 *   stemmer on sc rows, exact match on qa rows, per-task means, task aggregate) against the same scores
 *   computed the plain way, stemming every token as rouge_score does (the baseline; the evaluator
 *   memoises stems).
 * Medians of several runs; the machine is shared, so numbers are noisy.
 *
 *   pnpm exec tsx bench/eval/run.ts [--runs N] [--prompts N] [--max-new-tokens N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { corpusText, rowKind, synthesize } from "../../packages/core/src/index.js";
import {
  buildReport,
  type GeneratedRow,
  generateRows,
  knowledgeScore,
  LetheEvalModel,
  lcsLength,
  porterStem,
} from "../../packages/evaluator/src/index.js";
import { createTinyModel } from "../../packages/model/src/index.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    prompts: { type: "string", default: "16" },
    "max-new-tokens": { type: "string", default: "32" },
  },
});
const runs = Number(args.runs);
const promptCount = Number(args.prompts);
const maxNewTokens = Number(args["max-new-tokens"]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeIt<T>(fn: () => Promise<T> | T): Promise<{ seconds: number; result: T }> {
  let result = await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return { seconds: median(times), result };
}

const dir = mkdtempSync(path.join(tmpdir(), "lethe-bench-eval-"));
try {
  const dataset = synthesize({ seed: 1, size: "small" });
  const uri = path.join(dir, "tiny");
  await createTinyModel(uri, {
    arch: "olmo",
    layers: 4,
    hidden: 64,
    heads: 4,
    intermediate: 256,
    vocabFrom: corpusText(dataset),
    vocabSize: 512,
    seed: 1,
  });
  const model = await LetheEvalModel.load(uri);
  const promptRows = dataset.forget.slice(0, promptCount);
  const generateTokens = async (batchSize: number): Promise<number> => {
    const before = model.generatedTokens;
    await generateRows(model, promptRows, { maxNewTokens, batchSize });
    return model.generatedTokens - before;
  };
  const single = await timeIt(() => generateTokens(1));
  const batched = await timeIt(() => generateTokens(8));

  // Scoring: every forget and retain row of the small set, with a deterministic "generation" that
  // overlaps the gold output (its second half, then the first).
  const scored = (rows: typeof dataset.forget): GeneratedRow[] =>
    rows.map((r) => {
      const words = r.output.split(" ");
      const half = Math.ceil(words.length / 2);
      return {
        id: r.id,
        task: r.task,
        kind: rowKind(r.id),
        output: r.output,
        generation: [...words.slice(half), ...words.slice(0, half)].join(" "),
      };
    });
  const forget = scored(dataset.forget);
  const retain = scored(dataset.retain);
  const rows = forget.length + retain.length;
  const scoring = await timeIt(() => buildReport({ forget, retain }));
  // The baseline: rouge_score's tokenizer with every token stemmed afresh, the same LCS and exact match.
  const plainTokens = (text: string): string[] =>
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, " ")
      .split(" ")
      .filter((w) => w !== "")
      .map((w) => (w.length > 3 ? porterStem(w) : w));
  const plain = await timeIt(() => {
    let total = 0;
    for (const r of [...forget, ...retain]) {
      if (r.kind === "qa") {
        total += knowledgeScore(r.output, r.generation);
        continue;
      }
      const reference = plainTokens(r.output);
      const generation = plainTokens(r.generation);
      if (reference.length > 0 && generation.length > 0)
        total += lcsLength(reference, generation) / reference.length;
    }
    return total;
  });
  const table = [
    ["measure", "baseline", "evaluator", "ratio"],
    [
      `generation tokens/s (${promptRows.length} rows, ≤${maxNewTokens} new tokens)`,
      `${(single.result / single.seconds).toFixed(1)} (batch 1)`,
      `${(batched.result / batched.seconds).toFixed(1)} (batch 8)`,
      `${(single.seconds / batched.seconds).toFixed(2)}×`,
    ],
    [
      `scored rows/s (${rows} rows)`,
      `${(rows / plain.seconds).toFixed(0)} (stem every token)`,
      `${(rows / scoring.seconds).toFixed(0)} (buildReport)`,
      `${(plain.seconds / scoring.seconds).toFixed(2)}×`,
    ],
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  for (const [i, r] of table.entries()) {
    console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join("  "));
    if (i === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
  console.log(`task aggregate of the synthetic generations: ${scoring.result.task_aggregate?.toFixed(4)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
