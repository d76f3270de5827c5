import { type JsonObject, startRun } from "@lethe/tracker";
import { logReport } from "../logging.js";
import type { EvalReport } from "../report.js";

/**
 * Record an evaluation as a tracker run (LETHE_TRACKER: local by default, wandb, none): the scores as summary
 * values, the aggregate terms and layer-wise numbers as tables. Inside a sweep trial the run is the trial's
 * own, so the sweep sees `eval/final` and friends as its metric.
 */
export async function trackReport(
  jobType: string,
  config: JsonObject,
  report: EvalReport,
): Promise<string | null> {
  const run = await startRun({ project: "lethe", job_type: jobType, config, exitHandlers: false });
  try {
    await logReport(report, {
      summary: (values) => run.summary(values),
      table: (name, columns, rows) => run.table(name, columns, rows),
    });
  } catch (err) {
    await run.finish(1);
    throw err;
  }
  await run.finish(0);
  return run.dir;
}

/** The command line as run config: `--forget a.jsonl` → `{ forget: "a.jsonl" }`, positionals under `args`. */
export function argvConfig(command: string, argv: string[]): JsonObject {
  const config: JsonObject = { command };
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith("--")) {
      args.push(token);
      continue;
    }
    const eq = token.indexOf("=");
    if (eq > 0) config[token.slice(2, eq)] = token.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) config[token.slice(2)] = argv[++i]!;
    else config[token.slice(2)] = true;
  }
  if (args.length) config["args"] = args;
  return config;
}
