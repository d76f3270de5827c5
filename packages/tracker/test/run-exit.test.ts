import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRun } from "../src/index.js";
import { childRun, runDirOf } from "./helpers/spawn-child.js";

let runsDir: string;
beforeAll(() => {
  runsDir = mkdtempSync(join(tmpdir(), "lethe-exit-"));
});
afterAll(() => rmSync(runsDir, { recursive: true, force: true }));

const env = (): NodeJS.ProcessEnv => ({ ...process.env, LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "local" });

describe("a run that is not finished explicitly", () => {
  it.concurrent("is finished with exit code 0 when the script simply ends", {
    timeout: 300_000,
  }, async () => {
    const child = childRun(["--rows", "3", "--end", "return"], env());
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const run = await readRun(runDirOf(child));
    expect(run.meta).toMatchObject({ state: "finished", exit_code: 0 });
    expect(run.history).toHaveLength(3);
  });

  it.concurrent("records exit code 1 on an uncaught exception, which still reaches stderr", {
    timeout: 300_000,
  }, async () => {
    const child = childRun(["--rows", "2", "--end", "throw"], env());
    expect(await child.exited).toEqual({ code: 1, signal: null });
    expect(child.stderr()).toContain("Error: training diverged");
    const run = await readRun(runDirOf(child));
    expect(run.meta).toMatchObject({ state: "failed", exit_code: 1 });
  });

  it.concurrent("records the code given to process.exit", { timeout: 300_000 }, async () => {
    const child = childRun(["--rows", "2", "--end", "exit-3"], env());
    expect(await child.exited).toEqual({ code: 3, signal: null });
    const run = await readRun(runDirOf(child));
    expect(run.meta).toMatchObject({ state: "failed", exit_code: 3 });
    expect(run.history).toHaveLength(2);
  });

  it.concurrent("records 143 on SIGTERM and still dies by the signal", { timeout: 300_000 }, async () => {
    const child = childRun(["--rows", "2", "--end", "hang"], env());
    await child.waitFor("hanging");
    child.process.kill("SIGTERM");
    expect(await child.exited).toEqual({ code: null, signal: "SIGTERM" });
    const run = await readRun(runDirOf(child));
    expect(run.meta).toMatchObject({ state: "killed", exit_code: 143 });
  });
});
