/** W&B outages as a user meets them: a line per retry, a bounded wait, a message with the URL and the remedy. */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBin } from "../../core/test/helpers/cli.js";
import { startRun } from "../src/index.js";
import { FakeWandbServer } from "./helpers/fake-wandb-server.js";

let runsDir: string;
beforeAll(() => {
  runsDir = mkdtempSync(join(tmpdir(), "lethe-outage-"));
});
afterAll(() => rmSync(runsDir, { recursive: true, force: true }));

/** A loopback port nothing listens on: connections are refused at once. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const RETRY_LINE = (url: string) =>
  new RegExp(
    `^lethe-track.*: W&B \\w+ at ${url.replace(/[.]/g, "\\.")}/graphql: ECONNREFUSED; retry (\\d+) in [\\d.]+ s \\([\\d.]+ s so far, giving up after 3 s\\)$`,
  );

describe("an unreachable W&B server", () => {
  it("lethe-track sync and agent print one line per retry round and give up after LETHE_WANDB_GIVE_UP_S, naming the URL and the remedy", async () => {
    const offline = await startRun({
      project: "p",
      env: { LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "wandb", WANDB_MODE: "offline", WANDB_API_KEY: "k" },
      exitHandlers: false,
    });
    offline.log({ loss: 1 });
    await offline.finish(0);
    const url = `http://127.0.0.1:${await closedPort()}`;
    const env = { ...process.env, WANDB_BASE_URL: url, WANDB_API_KEY: "k", LETHE_WANDB_GIVE_UP_S: "3" };
    for (const args of [
      ["sync", offline.dir!],
      ["agent", "e/p/sweep1"],
    ]) {
      const started = performance.now();
      const r = await runBin("tracker", "lethe-track", args, { env });
      const seconds = (performance.now() - started) / 1000;
      expect(r.code, r.stderr).toBe(1);
      expect(seconds).toBeLessThan(10);
      const lines = r.stderr.trim().split("\n");
      const retries = lines.filter((l) => RETRY_LINE(url).test(l));
      expect(retries.length, r.stderr).toBeGreaterThanOrEqual(2);
      expect(retries.map((l) => Number(RETRY_LINE(url).exec(l)![1]))).toEqual(retries.map((_, i) => i + 1));
      const rest = lines.filter((l) => !RETRY_LINE(url).test(l)).join("\n");
      expect(rest).toMatch(
        new RegExp(
          `^lethe-track: W&B \\w+ at ${url.replace(/[.]/g, "\\.")}/graphql: gave up after \\d+ attempts in [\\d.]+ s: ECONNREFUSED\\n`,
        ),
      );
      expect(rest).toContain(
        `check WANDB_BASE_URL (now ${url}) and that the server is up; to work without it, set WANDB_MODE=offline and upload later with \`lethe-track sync RUN_DIR\`; LETHE_WANDB_GIVE_UP_S sets how long to retry (now 3)`,
      );
    }
  });

  it("live logging reports each retry round through the run's warnings", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const warnings: string[] = [];
    const run = await startRun({
      project: "p",
      env: { LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "wandb", WANDB_BASE_URL: url, WANDB_API_KEY: "k" },
      wandb: {
        initTimeoutMs: 400,
        finishTimeoutMs: 400,
        client: { retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 100, giveUpAfterMs: 300 } },
        warn: (m) => warnings.push(m),
      },
      exitHandlers: false,
    });
    run.log({ loss: 1 });
    await run.finish(0);
    const retries = warnings.filter((w) =>
      w.startsWith(`W&B Viewer at ${url}/graphql: ECONNREFUSED; retry `),
    );
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(warnings.at(-1)).toContain(`lethe-track sync ${run.dir}`);
  });
});

describe("a table upload that keeps failing", () => {
  let server: FakeWandbServer;
  beforeAll(async () => {
    server = await FakeWandbServer.start();
  });
  afterAll(() => server.close());

  it("does not keep the history, the summary and the run's completion from the server; the table stays spooled", async () => {
    server.setFaults({ rate: 1, seed: 1, kinds: ["500"], routes: ["upload"] });
    const warnings: string[] = [];
    const run = await startRun({
      project: "tables",
      env: { ...server.env(), LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "wandb" },
      wandb: {
        flushIntervalMs: 5,
        client: { requestTimeoutMs: 2000, retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 10 } },
        warn: (m) => warnings.push(m),
      },
      exitHandlers: false,
    });
    for (let i = 0; i < 5; i++) run.log({ loss: i });
    run.table("evals", ["step", "score"], [[4, 0.5]]);
    run.summary({ best: 0.1 });
    await run.finish(0);

    const fake = server.run("tables", run.id)!;
    expect(server.historyRows("tables", run.id).map((r) => r.loss)).toEqual([0, 1, 2, 3, 4]);
    expect(fake.summary).toMatchObject({ best: 0.1, loss: 4 });
    expect(fake.summary).not.toHaveProperty("evals");
    expect(fake.complete).toEqual({ exitcode: 0 });
    expect(warnings.at(-1)).toMatch(/^W&B upload of run \w+ is incomplete \(upload to .*: HTTP 500/);
    expect(warnings.at(-1)).toContain(`lethe-track sync ${run.dir}`);

    // Once uploads work again, sync sends the table and the summary that refers to it.
    server.setFaults(null);
    const sync = await runBin("tracker", "lethe-track", ["sync", run.dir!], {
      env: { ...process.env, ...server.env() },
    });
    expect(sync.code, sync.stderr).toBe(0);
    expect(server.run("tables", run.id)!.summary).toMatchObject({ evals: { _type: "table-file", nrows: 1 } });
  });
});
