import * as path from "node:path";
import { parseArgs } from "node:util";
import { UsageError } from "@lethe/core";
import type { EvalReport } from "../report.js";
import { scoreFiles } from "../score-files.js";
import { checkWritable } from "./out-check.js";
import { trackStage } from "./track.js";
import { writeReport } from "./write-report.js";

/** `lethe-eval score --forget PRED.jsonl --retain PRED.jsonl [--mia-member F --mia-nonmember F] [--mmlu-accuracy X] --out eval.json` */
export async function scoreCommand(argv: string[]): Promise<EvalReport> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      forget: { type: "string" },
      retain: { type: "string" },
      "mia-member": { type: "string" },
      "mia-nonmember": { type: "string" },
      "mmlu-accuracy": { type: "string" },
      "no-pandas-quirk": { type: "boolean", default: false },
      out: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError(`score: unexpected argument ${positionals[0]}`);
  if (values.forget === undefined || values.retain === undefined) {
    throw new UsageError("score: --forget and --retain are required");
  }
  const out = values.out;
  if (out === undefined) throw new UsageError("score: --out is required");
  if ((values["mia-member"] === undefined) !== (values["mia-nonmember"] === undefined)) {
    throw new UsageError("score: give both --mia-member and --mia-nonmember, or neither");
  }
  let mmluAccuracy: number | undefined;
  if (values["mmlu-accuracy"] !== undefined) {
    mmluAccuracy = Number(values["mmlu-accuracy"]);
    if (values["mmlu-accuracy"].trim() === "" || !Number.isFinite(mmluAccuracy)) {
      throw new UsageError(`score: --mmlu-accuracy must be a number, got ${values["mmlu-accuracy"]}`);
    }
  }
  const inputs = {
    forget: values.forget,
    retain: values.retain,
    ...(values["mia-member"] !== undefined ? { miaMember: values["mia-member"] } : {}),
    ...(values["mia-nonmember"] !== undefined ? { miaNonmember: values["mia-nonmember"] } : {}),
    ...(mmluAccuracy !== undefined ? { mmluAccuracy } : {}),
  };
  const tracking = await trackStage(
    "eval",
    {
      command: "score",
      forget: inputs.forget,
      retain: inputs.retain,
      mia_member: inputs.miaMember ?? null,
      mia_nonmember: inputs.miaNonmember ?? null,
      mmlu_accuracy: mmluAccuracy ?? null,
      pandas_csv_quirk: !values["no-pandas-quirk"],
      out,
    },
    [],
    path.dirname(path.resolve(inputs.forget)),
  );
  return tracking.around(async () => {
    checkWritable("--out", out, "file");
    const report = await scoreFiles(inputs, { pandasCsvQuirk: !values["no-pandas-quirk"] });
    await writeReport(out, report);
    await tracking.finish(report, { uri: out, type: "evaluation" }, [inputs.forget, inputs.retain]);
    return report;
  });
}
