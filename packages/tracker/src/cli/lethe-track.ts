/**
 * lethe-track: upload spooled runs to W&B, run a W&B sweep agent, run local sweeps, serve the dashboard.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { runCli, UsageError } from "@lethe/core";
import { runAgent } from "../wandb/agent.js";
import { syncRun } from "../wandb/sync.js";

const SYNC_USAGE = `usage: lethe-track sync RUN_DIR... [--entity E] [--project P] [--force]
  upload runs recorded with WANDB_MODE=offline, or what a crash or outage left unsent`;

const AGENT_USAGE = `usage: lethe-track agent SWEEP_ID [--count N] [--entity E] [--project P] [--heartbeat-ms MS]
  work on a W&B sweep (SWEEP_ID may be ENTITY/PROJECT/ID); trials report through the tracker`;

const USAGE = `usage:
${SYNC_USAGE.replace(/^usage: /, "  ")}
${AGENT_USAGE.replace(/^usage: /, "  ")}
  lethe-track sweep ...        local sweeps (lethe-track sweep --help)
  lethe-track dashboard ...    the run dashboard (lethe-track dashboard --help)
environment: WANDB_API_KEY, WANDB_BASE_URL, WANDB_ENTITY, WANDB_PROJECT, LETHE_RUNS_DIR,
  LETHE_WANDB_GIVE_UP_S (how long an unreachable W&B server is retried; default 120)`;

async function sync(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      entity: { type: "string" },
      project: { type: "string" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${SYNC_USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("sync: name at least one RUN_DIR");
  for (const dir of positionals) {
    const result = await syncRun(resolve(dir), {
      ...(values.entity !== undefined && { entity: values.entity }),
      ...(values.project !== undefined && { project: values.project }),
      ...(values.force !== undefined && { force: values.force }),
    });
    process.stdout.write(
      `${result.entity}/${result.project}/${result.runId}: sent ${result.sentLines} history rows, ` +
        `${result.totalLines} on the server${result.completed ? ", complete" : ", not finished (crashed or still running)"}\n` +
        `  ${result.url}\n`,
    );
  }
  return 0;
}

async function agent(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      count: { type: "string" },
      entity: { type: "string" },
      project: { type: "string" },
      "heartbeat-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${AGENT_USAGE}\n`);
    return 0;
  }
  const [sweepId, ...rest] = positionals;
  if (sweepId === undefined || rest.length > 0) throw new UsageError("agent: expects exactly one SWEEP_ID");
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && (!Number.isInteger(count) || count < 1))
    throw new UsageError(`agent: --count must be a positive integer, got ${values.count}`);
  const heartbeatMs = values["heartbeat-ms"] === undefined ? undefined : Number(values["heartbeat-ms"]);
  if (heartbeatMs !== undefined && !(heartbeatMs > 0))
    throw new UsageError(`agent: --heartbeat-ms must be positive`);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const result = await runAgent({
      sweepId,
      signal: abort.signal,
      ...(count !== undefined && { count }),
      ...(heartbeatMs !== undefined && { heartbeatMs }),
      ...(values.entity !== undefined && { entity: values.entity }),
      ...(values.project !== undefined && { project: values.project }),
    });
    const failed = result.trials.filter((t) => !t.stopped && t.exitCode !== 0).length;
    process.stdout.write(
      `agent ${result.agentId}: ${result.trials.length} runs (${failed} failed), stopped: ${result.reason}\n`,
    );
    if (result.reason === "aborted") return 130;
    return result.reason === "flapping" ? 1 : 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "sync":
      return sync(rest);
    case "agent":
      return agent(rest);
    // Loaded on demand: the dashboard and the local sweep controller are not needed to sync or run an agent.
    case "sweep":
      return (await import("../sweep/cli.js")).runSweepCli(rest);
    case "dashboard":
      return (await import("../dashboard/cli.js")).runDashboardCli(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

runCli("lethe-track", USAGE, main, import.meta.url);
