import { FileStore, type TaskRow } from "@lethe/core";
import { type LoadedInputs, loadRunInputs, type RunInputs } from "./inputs.js";
import type { PartialFile } from "./io/partial-file.js";
import type { NllRow, PredictionRow } from "./io/prediction-rows.js";
import { compareResidualStreams } from "./layers/residual.js";
import type { LayerAnalysis } from "./layers/types.js";
import { weightDeltas } from "./layers/weight-delta.js";
import { type EvalLogger, logReport } from "./logging.js";
import { evaluateMmlu, type MmluResult } from "./mmlu/evaluate.js";
import type { EvalModel } from "./model/eval-model.js";
import { DEFAULT_MAX_NEW_TOKENS, generateRows } from "./model/generate.js";
import { documentNll } from "./model/mia-nll.js";
import { buildReport, type EvalReport } from "./report.js";

export type { RunInputs };

/** The base to compare against for the layer-wise analysis. */
export interface LayerBase {
  model: EvalModel;
  /** Checkpoint URIs for the weight deltas. */
  baseUri: string;
  checkpointUri: string;
  adapterUri?: string;
  /** How many forget and retain rows (input + " " + output) feed the residual comparison; default 64 each. */
  samples?: number;
}

export interface RunOptions {
  maxNewTokens?: number;
  batchSize?: number;
  /** MMLU few-shot examples (default 5). */
  ntrain?: number;
  pandasCsvQuirk?: boolean;
  /** Write forget/retain predictions, MIA NLLs and MMLU details here (a directory), for `lethe-eval score`. */
  predictionsDir?: string;
  base?: LayerBase;
  /** Tracker hook: receives the summary values and tables. */
  logger?: EvalLogger;
  /** Progress lines (stage, done, total). */
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Where results are recorded as they are produced, and read back from on resume. */
  partial?: Pick<PartialFile, "stage">;
}

export interface RunTimings {
  generation_seconds: number;
  generated_rows: number;
  /** New tokens generated, when the model counts them. */
  generated_tokens: number | null;
  scoring_seconds: number;
}

/** The whole evaluation of one model: generate, MIA NLLs, MMLU, score, optional layer analysis. */
export async function runEvaluation(
  model: EvalModel,
  inputs: RunInputs | LoadedInputs,
  options: RunOptions = {},
): Promise<EvalReport & { timings: RunTimings; mmlu_details?: MmluResult }> {
  const batchSize = options.batchSize ?? 8;
  const progress = (stage: string) => (done: number, total: number) =>
    options.onProgress?.(stage, done, total);
  const loaded =
    "forgetRows" in inputs ? inputs : await loadRunInputs(inputs, { ntrain: options.ntrain ?? 5 });
  const { forgetRows, retainRows } = loaded;

  const started = performance.now();
  const tokensBefore = model.generatedTokens;
  const generate = (rows: TaskRow[], split: "forget" | "retain"): Promise<PredictionRow[]> =>
    generateRows(model, rows, {
      maxNewTokens: options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
      batchSize,
      onBatch: progress(`generate ${split}`),
      ...(options.partial ? { resume: options.partial.stage(split) } : {}),
    });
  const forget = await generate(forgetRows, "forget");
  const retain = await generate(retainRows, "retain");
  const generationSeconds = (performance.now() - started) / 1000;
  const tokensAfter = model.generatedTokens;

  let memberNll: NllRow[] | undefined;
  let nonmemberNll: NllRow[] | undefined;
  if (loaded.mia !== undefined) {
    memberNll = await documentNll(model, loaded.mia.members, {
      batchSize,
      onBatch: progress("MIA members"),
      ...(options.partial ? { resume: options.partial.stage("mia_member") } : {}),
    });
    nonmemberNll = await documentNll(model, loaded.mia.nonmembers, {
      batchSize,
      onBatch: progress("MIA non-members"),
      ...(options.partial ? { resume: options.partial.stage("mia_nonmember") } : {}),
    });
  }

  let mmlu: MmluResult | undefined;
  if (loaded.mmlu !== undefined) {
    mmlu = await evaluateMmlu(model, loaded.mmlu, {
      ntrain: options.ntrain ?? 5,
      batchSize,
      onBatch: progress("MMLU"),
      ...(options.partial ? { resume: options.partial.stage("mmlu") } : {}),
    });
  }

  let layers: LayerAnalysis | undefined;
  if (options.base !== undefined) {
    const samples = options.base.samples ?? 64;
    const text = (rows: readonly TaskRow[]) => rows.slice(0, samples).map((r) => `${r.input} ${r.output}`);
    const residual = await compareResidualStreams(model, options.base.model, {
      forget: text(forgetRows),
      retain: text(retainRows),
    });
    const weights = await weightDeltas(options.base.checkpointUri, options.base.baseUri, {
      ...(options.base.adapterUri !== undefined ? { adapterUri: options.base.adapterUri } : {}),
    });
    layers = { base: options.base.baseUri, ...residual, weights };
  }

  const scoringStarted = performance.now();
  const report = buildReport(
    {
      forget,
      retain,
      ...(memberNll && nonmemberNll
        ? { memberNll: memberNll.map((r) => r.nll), nonmemberNll: nonmemberNll.map((r) => r.nll) }
        : {}),
      ...(mmlu !== undefined ? { mmlu: mmlu.average_acc } : {}),
      ...(layers !== undefined ? { layers } : {}),
    },
    { pandasCsvQuirk: options.pandasCsvQuirk ?? true },
  );
  const timings: RunTimings = {
    generation_seconds: generationSeconds,
    generated_rows: forget.length + retain.length,
    generated_tokens:
      tokensBefore === undefined || tokensAfter === undefined ? null : tokensAfter - tokensBefore,
    scoring_seconds: (performance.now() - scoringStarted) / 1000,
  };

  if (options.predictionsDir !== undefined) {
    await writePredictions(options.predictionsDir, { forget, retain, memberNll, nonmemberNll, mmlu });
  }
  if (options.logger !== undefined) await logReport(report, options.logger);
  return { ...report, timings, ...(mmlu !== undefined ? { mmlu_details: mmlu } : {}) };
}

function jsonl(rows: readonly object[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length > 0 ? "\n" : "");
}

/** forget.jsonl / retain.jsonl (rows + generation), member_nll.jsonl / nonmember_nll.jsonl, mmlu.json. */
async function writePredictions(
  dir: string,
  out: {
    forget: PredictionRow[];
    retain: PredictionRow[];
    memberNll: NllRow[] | undefined;
    nonmemberNll: NllRow[] | undefined;
    mmlu: MmluResult | undefined;
  },
): Promise<void> {
  // Each file whole or not at all (temporary name, then rename; removed on SIGINT/SIGTERM).
  const store = new FileStore(dir);
  const write = (name: string, text: string) => store.put(name, new TextEncoder().encode(text));
  const strip = ({ kind: _kind, ...row }: PredictionRow) => row;
  await write("forget.jsonl", jsonl(out.forget.map(strip)));
  await write("retain.jsonl", jsonl(out.retain.map(strip)));
  if (out.memberNll) await write("member_nll.jsonl", jsonl(out.memberNll));
  if (out.nonmemberNll) await write("nonmember_nll.jsonl", jsonl(out.nonmemberNll));
  if (out.mmlu) await write("mmlu.json", `${JSON.stringify(out.mmlu, null, 2)}\n`);
}
