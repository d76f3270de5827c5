import { createHash } from "node:crypto";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { errorMessage, isRemoteUri, UsageError } from "@lethe/core";
import { loadRunInputs, type RunInputs } from "../inputs.js";
import { PartialFile } from "../io/partial-file.js";
import { LetheEvalModel } from "../model/lethe-eval-model.js";
import type { EvalReport } from "../report.js";
import { type RunOptions, runEvaluation } from "../run.js";
import { checkWritable } from "./out-check.js";
import { type StageTracking, trackStage } from "./track.js";
import { writeReport } from "./write-report.js";

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < (name === "--ntrain" ? 0 : 1)) {
    throw new UsageError(
      `run: ${name} must be a ${name === "--ntrain" ? "non-negative" : "positive"} integer, got ${text}`,
    );
  }
  return value;
}

/** Where results are kept while the evaluation runs: beside a local --out, else in the working directory. */
export function partialPath(out: string): string {
  if (!isRemoteUri(out)) return `${path.resolve(out)}.partial.jsonl`;
  const digest = createHash("sha256").update(out).digest("hex").slice(0, 12);
  return path.resolve(`.lethe-eval-${digest}.partial.jsonl`);
}

export interface RunArgs {
  checkpoint: string;
  adapter?: string;
  base?: string;
  inputs: RunInputs;
  out: string;
  predictions?: string;
  maxNewTokens: number;
  batchSize: number;
  ntrain: number;
  layerSamples: number;
  pandasCsvQuirk: boolean;
  resume: boolean;
}

export function parseRunArgs(argv: string[]): RunArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      adapter: { type: "string" },
      forget: { type: "string" },
      retain: { type: "string" },
      "mia-member": { type: "string" },
      "mia-nonmember": { type: "string" },
      mmlu: { type: "string" },
      base: { type: "string" },
      "max-new-tokens": { type: "string" },
      "batch-size": { type: "string" },
      ntrain: { type: "string" },
      "layer-samples": { type: "string" },
      predictions: { type: "string" },
      "no-pandas-quirk": { type: "boolean", default: false },
      resume: { type: "boolean", default: false },
      out: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const [checkpoint, ...extra] = positionals;
  if (checkpoint === undefined) throw new UsageError("run: CHECKPOINT is required");
  if (extra.length > 0) throw new UsageError(`run: unexpected argument ${extra[0]}`);
  if (values.forget === undefined || values.retain === undefined) {
    throw new UsageError("run: --forget and --retain are required");
  }
  if (values.out === undefined) throw new UsageError("run: --out is required");
  if ((values["mia-member"] === undefined) !== (values["mia-nonmember"] === undefined)) {
    throw new UsageError("run: give both --mia-member and --mia-nonmember, or neither");
  }
  return {
    checkpoint,
    ...(values.adapter !== undefined ? { adapter: values.adapter } : {}),
    ...(values.base !== undefined ? { base: values.base } : {}),
    inputs: {
      forget: values.forget,
      retain: values.retain,
      ...(values["mia-member"] !== undefined ? { miaMember: values["mia-member"] } : {}),
      ...(values["mia-nonmember"] !== undefined ? { miaNonmember: values["mia-nonmember"] } : {}),
      ...(values.mmlu !== undefined ? { mmlu: values.mmlu } : {}),
    },
    out: values.out,
    ...(values.predictions !== undefined ? { predictions: values.predictions } : {}),
    maxNewTokens: positiveInt("--max-new-tokens", values["max-new-tokens"], 256),
    batchSize: positiveInt("--batch-size", values["batch-size"], 8),
    ntrain: positiveInt("--ntrain", values.ntrain, 5),
    layerSamples: positiveInt("--layer-samples", values["layer-samples"], 64),
    pandasCsvQuirk: !values["no-pandas-quirk"],
    resume: values.resume,
  };
}

/** The run's config: every option with its type (numbers stay numbers). */
function runConfig(args: RunArgs) {
  return {
    command: "run",
    checkpoint: args.checkpoint,
    adapter: args.adapter ?? null,
    base: args.base ?? null,
    forget: args.inputs.forget,
    retain: args.inputs.retain,
    mia_member: args.inputs.miaMember ?? null,
    mia_nonmember: args.inputs.miaNonmember ?? null,
    mmlu: args.inputs.mmlu ?? null,
    out: args.out,
    predictions: args.predictions ?? null,
    max_new_tokens: args.maxNewTokens,
    batch_size: args.batchSize,
    ntrain: args.ntrain,
    layer_samples: args.layerSamples,
    pandas_csv_quirk: args.pandasCsvQuirk,
    resume: args.resume,
  };
}

/** `lethe-eval run CHECKPOINT [--adapter URI] --forget F --retain F [...] --out eval.json` */
export async function runCommand(argv: string[]): Promise<EvalReport> {
  const args = parseRunArgs(argv);
  const config = runConfig(args);
  const tracking = await trackStage(
    "eval",
    config,
    [
      { uri: args.checkpoint },
      ...(args.adapter !== undefined ? [{ uri: args.adapter, type: "adapter" }] : []),
      ...(args.base !== undefined ? [{ uri: args.base }] : []),
    ],
    // An adapter is what is being evaluated (the checkpoint is its base): the run is named after it.
    args.adapter ?? args.checkpoint,
  );
  return tracking.around(() => evaluate(args, tracking));
}

async function evaluate(args: RunArgs, tracking: StageTracking): Promise<EvalReport> {
  // Everything that can be checked without the model, before the model is even loaded.
  const loaded = await loadRunInputs(args.inputs, { ntrain: args.ntrain });
  checkWritable("--out", args.out, "file");
  if (args.predictions !== undefined) checkWritable("--predictions", args.predictions, "dir");
  const {
    resume: _resume,
    batch_size: _batch,
    predictions: _predictions,
    out: _out,
    ...key
  } = runConfig(args);
  const partial = PartialFile.open(partialPath(args.out), key, args.resume);
  if (partial.resumed > 0)
    process.stderr.write(`resuming from ${partial.path}: ${partial.resumed} results kept\n`);

  try {
    const model = await LetheEvalModel.load(
      args.checkpoint,
      args.adapter !== undefined ? { adapter: args.adapter } : {},
    );
    const base = args.base === undefined ? undefined : await LetheEvalModel.load(args.base);
    const options: RunOptions = {
      maxNewTokens: args.maxNewTokens,
      batchSize: args.batchSize,
      ntrain: args.ntrain,
      pandasCsvQuirk: args.pandasCsvQuirk,
      partial,
      ...(args.predictions !== undefined ? { predictionsDir: args.predictions } : {}),
      ...(base !== undefined && args.base !== undefined
        ? {
            base: {
              model: base,
              baseUri: args.base,
              checkpointUri: args.checkpoint,
              samples: args.layerSamples,
              ...(args.adapter !== undefined ? { adapterUri: args.adapter } : {}),
            },
          }
        : {}),
      onProgress: terminalProgress(tracking.progress),
    };
    const report = await runEvaluation(model, loaded, options);
    await writeReport(args.out, report);
    partial.remove();
    await tracking.finish(report, { uri: args.out, type: "evaluation" }, [
      args.checkpoint,
      ...(args.adapter !== undefined ? [args.adapter] : []),
    ]);
    return report;
  } catch (err) {
    partial.close();
    if (partial.count === 0) {
      partial.remove();
      throw err;
    }
    throw new Error(
      `${errorMessage(err)}\nthe ${partial.count} results computed so far are kept in ${partial.path}: ` +
        "run the same command with --resume to continue",
      { cause: err },
    );
  }
}

function terminalProgress(
  record: (stage: string, done: number, total: number) => void,
): (stage: string, done: number, total: number) => void {
  let lastLine = "";
  return (stage, done, total) => {
    record(stage, done, total);
    const line = `${stage}: ${done}/${total}`;
    if (line !== lastLine && process.stderr.isTTY) process.stderr.write(`\r${line}   `);
    if (done === total) process.stderr.write(process.stderr.isTTY ? "\n" : `${line}\n`);
    lastLine = line;
  };
}
