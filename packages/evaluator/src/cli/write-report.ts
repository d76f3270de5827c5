import * as path from "node:path";
import { FileStore, isRemoteUri, openStore } from "@lethe/core";
import type { EvalReport } from "../report.js";

/** Write eval.json to a path or a store URI (file://, s3://), whole or not at all (temporary name, rename). */
export async function writeReport(out: string, report: EvalReport): Promise<void> {
  const bytes = new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`);
  if (isRemoteUri(out)) {
    const slash = out.replace(/\/+$/, "").lastIndexOf("/");
    await openStore(out.slice(0, slash)).put(out.slice(slash + 1), bytes);
    return;
  }
  const target = path.resolve(out);
  await new FileStore(path.dirname(target)).put(path.basename(target), bytes);
}

/** A few lines for the terminal. */
export function formatReport(report: EvalReport): string {
  const f = (v: number | null): string => (v === null ? "n/a" : v.toFixed(4));
  const lines = [
    `task aggregate ${f(report.task_aggregate)}  MIA AUC ${f(report.mia_auc)} (score ${f(report.mia_score)})  ` +
      `MMLU ${f(report.mmlu)}  final ${f(report.final)}` +
      (report.mmlu_gate_passed === null ? "" : `  7B gate ${report.mmlu_gate_passed ? "passed" : "FAILED"}`),
  ];
  for (const split of ["forget", "retain"] as const) {
    for (const [task, cell] of Object.entries(report[split])) {
      lines.push(
        `  ${split.padEnd(6)} ${task}  regurgitation ${f(cell.regurgitation)} (${cell.sc_rows} sc)  ` +
          `knowledge ${f(cell.knowledge)} (${cell.qa_rows} qa)`,
      );
    }
  }
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}
