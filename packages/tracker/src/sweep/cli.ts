/** `lethe-track sweep SWEEP.yml [--parallel N] ...`: run a W&B-format sweep locally. */
import { parseArgs } from "node:util";
import { UsageError } from "@lethe/core";
import { formatArgValue } from "./command.js";
import { loadSweepConfig } from "./config.js";
import { runSweep } from "./controller.js";
import type { SweepRecord } from "./record.js";

export const SWEEP_USAGE = `usage: lethe-track sweep SWEEP.yml [options]
  Runs a W&B sweep config locally: grid, random or bayes search, hyperband early termination.
  Each trial runs the config's command with --name=value arguments and is recorded as a run in the
  sweep's group under the runs directory.
options:
  --parallel N     trials at once (default 1)
  --count N        at most N trials (random and bayes need this or run_cap in the config)
  --seed N         seed for random/bayes (default: random, recorded in the sweep record)
  --runs DIR       runs directory (default LETHE_RUNS_DIR, else ./runs)
  --group NAME     run group of the trials (default: the sweep id)
  --id ID          sweep id (default sweep-<random>)
  --poll-ms MS     hyperband check interval (default 1000)
  --grace S        seconds from SIGTERM to SIGKILL when a trial is stopped (default 10)
  --quiet          do not echo trial output (it is still in <runs>/.sweeps/<id>/<run>.log)
Ctrl-C stops the running trials (SIGTERM), records them as killed and exits with 130.`;

function positiveInt(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`sweep: --${name} must be an integer ≥ ${min}, got ${value}`);
  return n;
}

export async function runSweepCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      parallel: { type: "string", short: "p" },
      count: { type: "string" },
      seed: { type: "string" },
      runs: { type: "string" },
      group: { type: "string" },
      id: { type: "string" },
      "poll-ms": { type: "string" },
      grace: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${SWEEP_USAGE}\n`);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new UsageError("sweep: expects exactly one SWEEP.yml");
  const parallel = positiveInt("parallel", values.parallel);
  const count = positiveInt("count", values.count);
  const seed = positiveInt("seed", values.seed, 0);
  const pollMs = positiveInt("poll-ms", values["poll-ms"]);
  const grace = positiveInt("grace", values.grace, 0);
  const config = await loadSweepConfig(file);

  const abort = new AbortController();
  let signalCode = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signalCode = signal === "SIGINT" ? 130 : 143;
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const result = await runSweep({
      config,
      source: file,
      signal: abort.signal,
      ...(values.runs !== undefined && { runsDir: values.runs }),
      ...(parallel !== undefined && { parallel }),
      ...(count !== undefined && { count }),
      ...(seed !== undefined && { seed }),
      ...(values.group !== undefined && { group: values.group }),
      ...(values.id !== undefined && { sweepId: values.id }),
      ...(pollMs !== undefined && { pollMs }),
      ...(grace !== undefined && { graceSeconds: grace }),
      ...(values.quiet && { echo: false as const }),
    });
    process.stdout.write(formatSweepSummary(result.record));
    if (result.aborted) return signalCode || 130;
    const anyCompleted = result.record.trials.some((t) => t.state === "finished" || t.state === "stopped");
    return anyCompleted ? 0 : 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Six significant digits for the table; sweep.json keeps full precision. */
function short(v: number): string {
  return String(Number(v.toPrecision(6)));
}

/** The table printed at the end: every trial, then the best one. */
export function formatSweepSummary(record: SweepRecord): string {
  const metricName = record.metric?.name ?? "metric";
  const header = ["trial", "run", "state", metricName, "parameters"];
  const rows = record.trials
    .slice()
    .sort((a, b) => a.index - b.index)
    .map((t) => [
      String(t.index),
      t.run_id,
      t.state,
      t.metric === null ? "-" : short(t.metric),
      Object.entries(t.params)
        .map(([k, v]) => `${k}=${formatArgValue(v)}`)
        .join(" "),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  const counts = (["finished", "stopped", "failed", "killed", "running"] as const)
    .map((state) => [state, record.trials.filter((t) => t.state === state).length] as const)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`);
  let out = `sweep ${record.id} (${record.method}, group ${record.group}): ${record.trials.length} trials, ${counts.join(", ")}\n`;
  out += `${line(header)}\n${rows.map(line).join("\n")}\n`;
  if (record.best) {
    out += `best: ${record.best.run_id} ${metricName} = ${short(record.best.metric)} with ${Object.entries(
      record.best.params,
    )
      .map(([k, v]) => `--${k}=${formatArgValue(v)}`)
      .join(" ")}\n`;
  } else if (record.metric) {
    out += `best: none (no finished trial logged ${metricName})\n`;
  }
  return out;
}
