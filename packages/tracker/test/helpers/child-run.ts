/**
 * A training-like child process for the tests: starts a run through the Run API, logs rows (printing
 * "row N" after each one is logged), and ends the way argv says:
 *   --rows N --interval-ms M --end finish|return|throw|exit-3|hang [--metric-from-config KEY]
 * Backends and W&B come from the environment (LETHE_TRACKER, WANDB_*, LETHE_RUNS_DIR).
 */
import { parseArgs } from "node:util";
import { startRun } from "../../src/index.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "10" },
    "interval-ms": { type: "string", default: "0" },
    end: { type: "string", default: "finish" },
    project: { type: "string", default: "crash-test" },
    id: { type: "string" },
    "metric-from-config": { type: "string" },
    lr: { type: "string" },
  },
  strict: false,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const run = await startRun({
  project: values.project as string,
  ...(typeof values.id === "string" && { id: values.id }),
  config: { rows: Number(values.rows), ...(typeof values.lr === "string" && { cli_lr: Number(values.lr) }) },
  wandb: {
    flushIntervalMs: 10,
    client: { requestTimeoutMs: 2000, retry: { maxAttempts: 20, baseDelayMs: 5, maxDelayMs: 50 } },
  },
});
process.stdout.write(`run ${run.id} ${run.dir}\n`);
const rows = Number(values.rows);
const interval = Number(values["interval-ms"]);
const key = values["metric-from-config"];
for (let i = 0; i < rows; i++) {
  const base = typeof key === "string" ? Number(run.config.get(key)) : 1;
  run.log({ loss: base / (i + 1), i });
  process.stdout.write(`row ${i}\n`);
  if (interval > 0) await sleep(interval);
}
switch (values.end) {
  case "finish":
    await run.finish();
    break;
  case "return":
    break; // no finish(): the exit hooks finish the run when the event loop runs dry
  case "throw":
    throw new Error("training diverged");
  case "exit-3":
    process.exit(3);
    break;
  case "hang":
    process.stdout.write("hanging\n");
    setInterval(() => {}, 1000);
    break;
}
