// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
/**
 * The local sweep controller end to end, in process: real child processes, real run directories.
 * Trials that print JSON lines exercise the stdout fallback; one trial script logs through the built
 * tracker (packages/tracker/dist, as `pnpm test` builds it) to check that a trial joins its own run.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { runSummaries, sweepViews } from "../src/dashboard/data.js";
import { listRuns, readRun } from "../src/local/reader.js";
import { validateSweepConfig } from "../src/sweep/config.js";
import { runSweep } from "../src/sweep/controller.js";
import { readSweepRecord } from "../src/sweep/record.js";

const TRACKER_DIST = resolve(__dirname, "../dist/index.js");

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "lethe-sweep-"));
}

/** A trial script: parses --name=value flags into `args`, then runs `body`. */
function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, "").split("="); return [k, JSON.parse(v)]; }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
${body}
`,
  );
  return path;
}

const quiet = { echo: false as const, log: () => {} };

describe("local sweep controller", () => {
  it("records every grid trial as a run in the sweep group, keeps going past failures, and finds the best", async () => {
    const dir = tempDir();
    const trial = script(
      dir,
      "trial.mjs",
      `if (args.b === 3) { console.error("b = 3 is not allowed"); process.exit(2); }
console.log("starting");
console.log(JSON.stringify({ loss: (args.a - 1) ** 2 + args.b }));`,
    );
    const config = validateSweepConfig({
      method: "grid",
      metric: { name: "loss", goal: "minimize" },
      command: [process.execPath, trial, "${args}"],
      parameters: { a: { values: [0, 1, 2] }, b: { values: [1, 3] } },
    });
    const runsDir = join(dir, "runs");
    const { record, aborted } = await runSweep({ config, runsDir, parallel: 2, sweepId: "grid1", ...quiet });

    expect(aborted).toBe(false);
    expect(record.trials).toHaveLength(6);
    for (const t of record.trials) {
      const { a, b } = t.params as { a: number; b: number };
      if (b === 3) {
        expect(t.state).toBe("failed");
        expect(t.exit_code).toBe(2);
        expect(t.metric).toBeNull();
      } else {
        expect(t.state).toBe("finished");
        expect(t.metric).toBe((a - 1) ** 2 + b);
        expect(t.metric_source).toBe("stdout");
      }
    }
    expect(record.best).toEqual({ index: 2, run_id: "grid1-002", metric: 1, params: { a: 1, b: 1 } });
    expect(await readSweepRecord(runsDir, "grid1")).toEqual(record);

    const runs = await listRuns(runsDir);
    expect(runs).toHaveLength(6);
    for (const run of runs) {
      const t = record.trials.find((x) => x.run_id === run.meta.id)!;
      expect(run.meta.group).toBe("grid1");
      expect(run.meta.sweep).toBe("grid1");
      expect(run.config).toEqual(t.params);
      expect(run.state).toBe(t.state);
      expect(run.meta.exit_code).toBe(t.exit_code);
      const full = await readRun(run.dir);
      if (t.state === "finished") {
        expect(full.history.map((r) => r.loss)).toEqual([t.metric]);
        expect(full.summary.loss).toBe(t.metric);
      } else {
        expect(full.history).toEqual([]);
        expect(readFileSync(join(runsDir, ".sweeps", "grid1", `${t.run_id}.log`), "utf8")).toContain(
          "b = 3 is not allowed",
        );
      }
    }
  });

  it("lets a trial that uses the tracker log into its own run, with the sampled parameters in its config", async () => {
    expect(existsSync(TRACKER_DIST), "build the tracker first (pnpm build)").toBe(true);
    const dir = tempDir();
    const trial = join(dir, "trial.mjs");
    writeFileSync(
      trial,
      `import { startRun } from ${JSON.stringify(TRACKER_DIST)};
const lr = Number(process.argv.find((a) => a.startsWith("--lr=")).slice(5));
const run = await startRun({ project: "p", name: "mine", config: { model: "tiny" } });
for (let step = 0; step < 3; step++) run.log({ loss: lr * (3 - step) }, { step });
run.summary({ final: lr });
await run.finish();`,
    );
    const config = validateSweepConfig({
      method: "random",
      run_cap: 2,
      metric: { name: "loss" },
      command: [process.execPath, trial, "${args}"],
      parameters: { lr: { distribution: "uniform", min: 0.1, max: 0.2 }, tag: { value: "t" } },
    });
    const runsDir = join(dir, "runs");
    const { record } = await runSweep({ config, runsDir, sweepId: "rs", seed: 4, ...quiet });

    expect(record.trials.map((t) => t.state)).toEqual(["finished", "finished"]);
    for (const t of record.trials) {
      const lr = t.params.lr as number;
      expect(lr).toBeGreaterThanOrEqual(0.1);
      expect(lr).toBeLessThanOrEqual(0.2);
      expect(t.metric).toBeCloseTo(lr, 12); // the minimum of lr·3, lr·2, lr·1
      expect(t.metric_source).toBe("run");
      expect(t.iterations).toBe(3);
      const run = await readRun(join(runsDir, t.run_id));
      expect(run.meta.name).toBe("mine");
      expect(run.meta.group).toBe("rs");
      expect(run.meta.sweep).toBe("rs");
      expect(run.state).toBe("finished");
      expect(run.config).toEqual({ model: "tiny", lr, tag: "t" });
      expect(run.history.map((r) => r.loss)).toEqual([3 * lr, 2 * lr, lr]);
      expect(run.summary.final).toBe(lr);
    }
  });

  it("stops the trials hyperband rejects and records them as stopped", async () => {
    const dir = tempDir();
    // Each trial logs `loss = rate` 12 times, 150 ms apart: they are ranked from the first band on. A barrier
    // (a file per started trial) lines their first lines up, however unevenly four processes boot.
    const trial = script(
      dir,
      "trial.mjs",
      `const fs = await import("node:fs");
fs.writeFileSync(${JSON.stringify(dir)} + "/ready-" + args.rate, "");
while (fs.readdirSync(${JSON.stringify(dir)}).filter((f) => f.startsWith("ready-")).length < 4) await sleep(10);
for (let i = 0; i < 12; i++) { console.log(JSON.stringify({ loss: args.rate })); await sleep(150); }`,
    );
    const config = validateSweepConfig({
      method: "grid",
      metric: { name: "loss", goal: "minimize" },
      command: [process.execPath, trial, "${args}"],
      parameters: { rate: { values: [1, 2, 3, 4] } },
      early_terminate: { type: "hyperband", min_iter: 2, eta: 2 },
    });
    const runsDir = join(dir, "runs");
    const { record } = await runSweep({
      config,
      runsDir,
      parallel: 4,
      pollMs: 50,
      graceSeconds: 2,
      ...quiet,
    });

    // The threshold at band 2 is the value at index ⌊n/2⌋ of the n trials that have reached it when the poll
    // runs. With all four there (1, 2, 3, 4) it is 3 and only rate 4 is worse. A trial whose output a loaded
    // machine delays past the poll is not yet counted: with 1, 2, 4 the threshold is 2 (still stopping 4);
    // with 1, 2, 3 it is 2 and rate 3 is stopped as well, which is the W&B rule too. Rates 1 and 2 are never
    // worse than the threshold, and rate 4 is stopped once any two others have reached the band.
    const byRate = new Map(record.trials.map((t) => [t.params.rate as number, t]));
    expect(byRate.get(4)!.state).toBe("stopped");
    expect(byRate.get(4)!.iterations).toBeLessThan(12);
    expect(byRate.get(4)!.note).toMatch(/^hyperband: loss 4 at iteration \d+ is worse than [23]$/);
    for (const rate of [1, 2]) {
      expect(byRate.get(rate)!.state).toBe("finished");
      expect(byRate.get(rate)!.iterations).toBe(12);
    }
    const three = byRate.get(3)!;
    if (three.state === "stopped")
      expect(three.note).toMatch(/^hyperband: loss 3 at iteration \d+ is worse than 2$/);
    else expect(three).toMatchObject({ state: "finished", iterations: 12 });
    const stoppedRun = (await listRuns(runsDir)).find((r) => r.meta.id === byRate.get(4)!.run_id)!;
    expect(stoppedRun.state).toBe("killed");
    // The dashboard uses one word for it, the sweep's: the run list and the sweep view both say "stopped".
    const shown = (await runSummaries(runsDir)).find((r) => r.id === byRate.get(4)!.run_id)!;
    expect(shown.state).toBe("stopped");
    const view = (await sweepViews(runsDir))[0]!;
    expect(view.trials.find((t) => t.run_id === shown.id)!.state).toBe("stopped");
    expect(view.params).toEqual(["rate"]);
  });

  it("on abort stops running trials (SIGKILL after the grace period if SIGTERM is ignored) and records them as killed", async () => {
    const dir = tempDir();
    const trial = script(
      dir,
      "trial.mjs",
      `if (args.stubborn) process.on("SIGTERM", () => console.error("ignoring SIGTERM"));
console.log("ready");
await sleep(60000);`,
    );
    const config = validateSweepConfig({
      method: "grid",
      command: [process.execPath, trial, "${args}"],
      parameters: { stubborn: { values: [false, true, false] } },
    });
    const runsDir = join(dir, "runs");
    const abort = new AbortController();
    // Abort once both running trials have printed "ready" (their SIGTERM handlers are installed by then).
    let ready = 0;
    const echo = new PassThrough();
    echo.on("data", (chunk: Buffer) => {
      ready += chunk.toString().split("ready").length - 1;
      if (ready === 2) abort.abort();
    });
    const t0 = Date.now();
    const result = await runSweep({
      config,
      runsDir,
      parallel: 2,
      graceSeconds: 1,
      signal: abort.signal,
      echo,
      log: () => {},
    });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(result.aborted).toBe(true);
    expect(result.record.state).toBe("killed");
    // The third trial never started.
    expect(result.record.trials.map((t) => [t.params.stubborn, t.state])).toEqual([
      [false, "killed"],
      [true, "killed"],
    ]);
    expect(result.record.trials[1]!.exit_code).toBe(137); // SIGKILL
    const runs = await listRuns(runsDir);
    expect(runs.map((r) => r.state)).toEqual(["killed", "killed"]);
  });
});
