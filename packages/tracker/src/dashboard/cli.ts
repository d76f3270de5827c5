/** `lethe-track dashboard [--runs DIR] [--port P]`: serve the run dashboard on 127.0.0.1 until Ctrl-C. */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { UsageError } from "@lethe/core";
import { defaultRunsDir } from "../local/layout.js";
import { startDashboard } from "./server.js";

export const DASHBOARD_USAGE = `usage: lethe-track dashboard [--runs DIR] [--port P]
  Serves a dashboard of the local runs on http://127.0.0.1:P/ (default port 6150; 0 picks a free one):
  the run table with filters, loss curves, layer-wise heatmaps, sweeps and artifact lineage.
  --runs DIR   runs directory (default LETHE_RUNS_DIR, else ./runs)
Stops on Ctrl-C.`;

export const DEFAULT_PORT = 6150;

export async function runDashboardCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { runs: { type: "string" }, port: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(`${DASHBOARD_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`dashboard: unexpected argument ${positionals[0]}`);
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`dashboard: --port must be an integer 0-65535, got ${values.port}`);
  }
  const runsDir = values.runs !== undefined ? resolve(values.runs) : defaultRunsDir();
  const dashboard = await startDashboard({ runsDir, port });
  process.stdout.write(`lethe-track dashboard: ${runsDir} on ${dashboard.url}\n`);
  await new Promise<void>((resolveStop) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolveStop();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await dashboard.close();
  return 0;
}
