import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readHistory, readRun, syncRun, wandbSettings } from "../src/index.js";
import { FakeWandbServer } from "./helpers/fake-wandb-server.js";
import { childRun, runDirOf, spawnTs } from "./helpers/spawn-child.js";

const CLI = fileURLToPath(new URL("../src/cli/lethe-track.ts", import.meta.url));

let server: FakeWandbServer;
let runsDir: string;
beforeAll(async () => {
  server = await FakeWandbServer.start();
  runsDir = mkdtempSync(join(tmpdir(), "lethe-crash-"));
});
afterAll(async () => {
  await server.close();
  rmSync(runsDir, { recursive: true, force: true });
});

const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
  ...process.env,
  ...server.env(),
  LETHE_RUNS_DIR: runsDir,
  LETHE_TRACKER: "local,wandb",
  WANDB_MODE: "online",
  ...extra,
});

/** Complete lines of a history file, parsed and re-serialised the way the server test helper does. */
const localRows = async (dir: string) =>
  (await readHistory(join(dir, "history.jsonl"))).map((r) => JSON.stringify(r));

it("a run killed with SIGKILL mid-upload leaves a readable history, and sync uploads the rest exactly once", {
  timeout: 300_000,
}, async () => {
  server.setFaults({ rate: 0.3, seed: 99, routes: ["file_stream"], slowMs: 150 });
  const child = childRun(["--project", "crash", "--rows", "100000", "--interval-ms", "2"], childEnv({}));
  await child.waitFor("row 60\n");
  child.process.kill("SIGKILL");
  expect(await child.exited).toEqual({ code: null, signal: "SIGKILL" });
  server.setFaults(null);

  const dir = runDirOf(child);
  const run = await readRun(dir);
  expect(run.state).toBe("crashed");
  const printed = (child.stdout().match(/^row \d+$/gm) ?? []).length;
  expect(run.history.length).toBeGreaterThanOrEqual(printed);
  expect(run.history.map((r) => r.i)).toEqual([...Array(run.history.length).keys()]);
  // a kill in the middle of a write leaves a partial line: readers and sync skip it
  appendFileSync(join(dir, "history.jsonl"), '{"loss":0.001,"i":');
  expect((await readRun(dir)).history).toHaveLength(run.history.length);

  const before = server.run("crash", run.meta.id)?.history.size ?? 0;
  expect(before).toBeLessThanOrEqual(run.history.length);
  const result = await syncRun(dir, {
    settings: wandbSettings(server.env()),
    batchLines: 50,
    client: { requestTimeoutMs: 2000, retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 } },
  });
  expect(result.totalLines).toBe(run.history.length);
  expect(result.completed).toBe(false); // no complete: W&B shows the run as crashed
  const rows = server.historyRows("crash", run.meta.id);
  expect(rows.map((r) => JSON.stringify(r))).toEqual(await localRows(dir));
  expect(server.run("crash", run.meta.id)!.conflicts).toEqual([]);
  expect(server.run("crash", run.meta.id)!.complete).toBeNull();
});

it("an offline run killed with SIGKILL is uploaded by `lethe-track sync`", { timeout: 300_000 }, async () => {
  const requestsBefore = server.requests.length;
  const child = childRun(
    ["--project", "offline-crash", "--rows", "100000", "--interval-ms", "2"],
    childEnv({ WANDB_MODE: "offline" }),
  );
  await child.waitFor("row 20\n");
  child.process.kill("SIGKILL");
  await child.exited;
  expect(server.requests.length).toBe(requestsBefore);
  const dir = runDirOf(child);
  const id = (await readRun(dir)).meta.id;

  const sync = spawnTs(CLI, ["sync", dir], { ...process.env, ...server.env() });
  expect(await sync.exited).toEqual({ code: 0, signal: null });
  const lines = (await localRows(dir)).length;
  expect(lines).toBeGreaterThanOrEqual(21);
  expect(sync.stdout()).toContain(
    `test-entity/offline-crash/${id}: sent ${lines} history rows, ${lines} on the server, not finished`,
  );
  expect(server.historyRows("offline-crash", id).map((r) => JSON.stringify(r))).toEqual(await localRows(dir));
  const state = JSON.parse(readFileSync(join(dir, "wandb.json"), "utf8"));
  expect(state.history.lines).toBe(lines);
});
