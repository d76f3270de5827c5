import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startRun } from "../src/index.js";
import { FakeWandbServer } from "./helpers/fake-wandb-server.js";

let server: FakeWandbServer;
let runsDir: string;
beforeAll(async () => {
  server = await FakeWandbServer.start();
  runsDir = mkdtempSync(join(tmpdir(), "lethe-reliability-"));
});
afterAll(async () => {
  await server.close();
  rmSync(runsDir, { recursive: true, force: true });
});

const ROWS = 240;

it("under 30% injected failures (drops before and after processing, 500, 429, slow replies) the server holds every row exactly once, in order", {
  timeout: 300_000,
}, async () => {
  server.setFaults({ rate: 0.3, seed: 20250, slowMs: 250 });
  const warnings: string[] = [];
  const run = await startRun({
    project: "reliability",
    config: { lr: 0.01 },
    env: { ...server.env(), LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "wandb" },
    wandb: {
      flushIntervalMs: 2,
      batchLines: 6,
      // slow replies (250 ms) outlast the request timeout, so the client gives up and re-sends them
      client: { requestTimeoutMs: 120, retry: { maxAttempts: 1000, baseDelayMs: 2, maxDelayMs: 25 } },
      warn: (m) => warnings.push(m),
    },
    exitHandlers: false,
  });
  for (let i = 0; i < ROWS; i++) {
    run.log({ loss: 1 / (i + 1), index: i });
    if (i === 100) run.config.update({ warmup: 10 });
    if (i === 150) run.table("evals", ["step", "score"], [[150, 0.5]]);
    if (i === 200) run.artifact("ckpt-200", "model", "s3://lethe/ckpts/r/step-200/");
    if (i % 8 === 0) await new Promise((r) => setTimeout(r, 3));
  }
  await run.finish(0);

  const fake = server.run("reliability", run.id)!;
  const rows = server.historyRows("reliability", run.id);
  expect(rows).toHaveLength(ROWS);
  expect(rows.map((r) => r.index)).toEqual([...Array(ROWS).keys()]);
  expect(rows.map((r) => r._step)).toEqual([...Array(ROWS).keys()]);
  // exactly once: the row count is the line count and no offset ever received two different lines
  expect(fake.history.size).toBe(ROWS);
  expect(fake.conflicts).toEqual([]);
  const local = readFileSync(join(run.dir!, "history.jsonl"), "utf8").trim().split("\n");
  expect(rows.map((r) => JSON.stringify(r))).toEqual(local.map((l) => JSON.stringify(JSON.parse(l))));

  expect(fake.complete).toEqual({ exitcode: 0 });
  expect(fake.config).toEqual({ lr: { value: 0.01 }, warmup: { value: 10 } });
  expect(fake.summary).toMatchObject({
    loss: 1 / ROWS,
    index: ROWS - 1,
    evals: { _type: "table-file", nrows: 1 },
  });
  expect([...fake.files.keys()].filter((k) => k.startsWith("media/table/evals_"))).toHaveLength(1);
  expect(server.artifacts.map((a) => [a.collection, a.state])).toEqual([["ckpt-200", "COMMITTED"]]);

  // the failures really happened, of every kind, and re-sends did occur
  const faults = server.faultCounts();
  const attempts = server.requests.length;
  const failed = Object.values(faults).reduce((a, b) => a + b, 0);
  expect(failed / attempts).toBeGreaterThan(0.2);
  for (const kind of ["drop", "drop-after", "500", "429", "slow"] as const)
    expect(faults[kind]).toBeGreaterThan(0);
  expect(fake.historyWrites).toBeGreaterThan(ROWS);
  expect(warnings.filter((w) => w.includes("incomplete"))).toEqual([]);
});
