import { parseArgs } from "node:util";
import { UsageError } from "@lethe/core";
import { LetheEvalModel } from "../model/lethe-eval-model.js";
import type { EvalReport } from "../report.js";
import { runEvaluation } from "../run.js";
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

/** `lethe-eval run CHECKPOINT [--adapter URI] --forget F --retain F [...] --out eval.json` */
export async function runCommand(argv: string[]): Promise<EvalReport> {
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
  const maxNewTokens = positiveInt("--max-new-tokens", values["max-new-tokens"], 256);
  const batchSize = positiveInt("--batch-size", values["batch-size"], 8);
  const ntrain = positiveInt("--ntrain", values.ntrain, 5);
  const samples = positiveInt("--layer-samples", values["layer-samples"], 64);

  const model = await LetheEvalModel.load(
    checkpoint,
    values.adapter !== undefined ? { adapter: values.adapter } : {},
  );
  const base = values.base === undefined ? undefined : await LetheEvalModel.load(values.base);
  let lastLine = "";
  const report = await runEvaluation(
    model,
    {
      forget: values.forget,
      retain: values.retain,
      ...(values["mia-member"] !== undefined ? { miaMember: values["mia-member"] } : {}),
      ...(values["mia-nonmember"] !== undefined ? { miaNonmember: values["mia-nonmember"] } : {}),
      ...(values.mmlu !== undefined ? { mmlu: values.mmlu } : {}),
    },
    {
      maxNewTokens,
      batchSize,
      ntrain,
      pandasCsvQuirk: !values["no-pandas-quirk"],
      ...(values.predictions !== undefined ? { predictionsDir: values.predictions } : {}),
      ...(base !== undefined && values.base !== undefined
        ? {
            base: {
              model: base,
              baseUri: values.base,
              checkpointUri: checkpoint,
              samples,
              ...(values.adapter !== undefined ? { adapterUri: values.adapter } : {}),
            },
          }
        : {}),
      onProgress: (stage, done, total) => {
        const line = `${stage}: ${done}/${total}`;
        if (line !== lastLine && process.stderr.isTTY) process.stderr.write(`\r${line}   `);
        if (done === total) process.stderr.write(process.stderr.isTTY ? "\n" : `${line}\n`);
        lastLine = line;
      },
    },
  );
  await writeReport(values.out, report);
  return report;
}
