import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type Backend,
  type HistoryRow,
  type JsonObject,
  listRuns,
  parseTrackerSpec,
  readHistory,
  readRun,
  readTable,
  startRun,
} from "../src/index.js";

let runsDir: string;
beforeEach(() => {
  runsDir = mkdtempSync(join(tmpdir(), "lethe-runs-"));
});
afterEach(() => {
  rmSync(runsDir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  LETHE_RUNS_DIR: runsDir,
  ...extra,
});
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"));

describe("local backend", () => {
  it("writes one directory per run with config, history, summary, tables and artifacts", async () => {
    const run = await startRun({
      project: "unlearn",
      name: "npo-a",
      group: "grid-1",
      tags: ["npo", "lora"],
      job_type: "train",
      config: { lr: 1e-5, rank: 8 },
      env: env(),
      exitHandlers: false,
    });
    expect(run.dir).toBe(join(runsDir, run.id));
    expect(run.id).toMatch(/^[a-z0-9]{8}$/);
    run.log({ loss: 2.5 });
    run.log({ loss: 2.0 }, { step: 10 });
    run.log({ val_loss: 2.2 }, { step: 10 });
    run.log({ loss: 1.5 });
    run.config.update({ rank: 16, alpha: 32 });
    run.summary({ best_val: 2.2 });
    run.table(
      "generations",
      ["prompt", "output"],
      [
        ["q1", "a1"],
        ["q2", "a2"],
      ],
    );
    run.artifact("ckpt-final", "model", "s3://bucket/ckpts/final/", { step: 11 });
    await run.finish();

    const dir = run.dir!;
    const history = readFileSync(join(dir, "history.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(history.map((r) => r._step)).toEqual([0, 10, 10, 11]);
    expect(history.map((r) => r.loss ?? r.val_loss)).toEqual([2.5, 2.0, 2.2, 1.5]);
    for (const row of history) {
      expect(row._runtime).toBeGreaterThanOrEqual(0);
      expect(Math.abs(row._timestamp - Date.now() / 1000)).toBeLessThan(60);
    }
    expect(readJson(join(dir, "config.json"))).toEqual({ lr: 1e-5, rank: 16, alpha: 32 });
    expect(readJson(join(dir, "summary.json"))).toEqual({ loss: 1.5, val_loss: 2.2, best_val: 2.2 });
    expect(readJson(join(dir, "tables", "generations.table.json"))).toEqual({
      columns: ["prompt", "output"],
      data: [
        ["q1", "a1"],
        ["q2", "a2"],
      ],
    });
    const artifacts = readJson(join(dir, "artifacts.json")) as JsonObject[];
    expect(artifacts).toHaveLength(1);
    expect(artifacts[0]).toMatchObject({
      name: "ckpt-final",
      type: "model",
      uri: "s3://bucket/ckpts/final/",
      metadata: { step: 11 },
      step: 11,
    });
    const meta = readJson(join(dir, "run.json")) as JsonObject;
    expect(meta).toMatchObject({
      id: run.id,
      project: "unlearn",
      name: "npo-a",
      group: "grid-1",
      tags: ["npo", "lora"],
      job_type: "train",
      state: "finished",
      exit_code: 0,
      pid: process.pid,
      backends: ["local"],
    });
    expect(Date.parse(meta.ended_at as string)).toBeGreaterThanOrEqual(Date.parse(meta.started_at as string));
  });

  it("reads runs back through listRuns, readRun and readTable", async () => {
    const a = await startRun({ project: "p", name: "a", env: env(), exitHandlers: false });
    a.log({ x: 1 });
    await a.finish(2);
    await new Promise((r) => setTimeout(r, 5));
    const b = await startRun({
      project: "p",
      name: "b",
      env: env(),
      exitHandlers: false,
      config: { k: "v" },
    });
    b.table("t", ["c"], [[1], [2], [3]]);

    const runs = await listRuns(runsDir);
    expect(runs.map((r) => r.meta.name)).toEqual(["b", "a"]);
    expect(runs.map((r) => r.state)).toEqual(["running", "failed"]);
    expect(runs[0]!.config).toEqual({ k: "v" });

    const full = await readRun(a.dir!);
    expect(full.history.map((r) => r.x)).toEqual([1]);
    expect(full.meta.exit_code).toBe(2);
    expect((await readRun(b.dir!)).tables).toEqual(["t"]);
    expect((await readTable(b.dir!, "t")).data).toEqual([[1], [2], [3]]);
    await expect(readTable(b.dir!, "missing")).rejects.toThrow(/no table "missing"/);
    await b.finish(130);
    expect((await readRun(b.dir!)).state).toBe("killed");
    expect(await listRuns(join(runsDir, "does-not-exist"))).toEqual([]);
  });

  it("tolerates a partial last history line and cuts it off when the run resumes", async () => {
    const run = await startRun({ project: "p", id: "resume01", env: env(), exitHandlers: false });
    run.log({ loss: 3 });
    run.log({ loss: 2 }, { step: 5 });
    await run.finish(1);
    const history = join(run.dir!, "history.jsonl");
    appendFileSync(history, '{"loss": 1.0, "_st'); // what a kill in the middle of a write leaves
    expect((await readHistory(history)).map((r) => r._step)).toEqual([0, 5]);

    const resumed = await startRun({
      project: "p",
      id: "resume01",
      resume: true,
      env: env(),
      exitHandlers: false,
      config: { extra: 1 },
    });
    expect(resumed.step).toBe(5);
    resumed.log({ loss: 1 });
    await resumed.finish();
    const rows = await readHistory(history);
    expect(rows.map((r) => [r._step, r.loss])).toEqual([
      [0, 3],
      [5, 2],
      [6, 1],
    ]);
    // _runtime continues from the first session instead of restarting at 0
    expect(rows[2]!._runtime).toBeGreaterThanOrEqual(rows[1]!._runtime);
    expect(readFileSync(history, "utf8").endsWith("\n")).toBe(true);
    const record = await readRun(resumed.dir!);
    expect(record.meta.state).toBe("finished");
    expect(record.config).toEqual({ extra: 1 });
    expect(record.summary).toEqual({ loss: 1 });
  });

  it("refuses to reuse or to resume the wrong run", async () => {
    const run = await startRun({ project: "p", id: "dup00001", env: env(), exitHandlers: false });
    await run.finish();
    await expect(startRun({ project: "p", id: "dup00001", env: env(), exitHandlers: false })).rejects.toThrow(
      /run dup00001 already exists in .*; pass resume to continue it/,
    );
    await expect(
      startRun({ project: "p", id: "nothere1", resume: "must", env: env(), exitHandlers: false }),
    ).rejects.toThrow(/run nothere1 cannot be resumed/);
    await expect(startRun({ id: "../escape", env: env(), exitHandlers: false })).rejects.toThrow(
      /run id "..\/escape" is not allowed/,
    );
  });

  it("rejects bad input with messages naming the field", async () => {
    const run = await startRun({ project: "p", env: env(), exitHandlers: false });
    run.log({ loss: 1 }, { step: 4 });
    expect(() => run.log({ loss: 1 }, { step: 3 })).toThrow(
      "run.log: step 3 is before the last logged step 4",
    );
    expect(() => run.log({ _step: 9 })).toThrow("run.log: key _step is reserved; pass the step as { step }");
    expect(() => run.log([1, 2] as unknown as JsonObject)).toThrow(
      "run.log: expected an object of values, got an array",
    );
    expect(() => run.log({ n: 10n })).toThrow(/run.log: values must be JSON-serialisable/);
    expect(() => run.table("t", ["a", "b"], [[1, 2], [3]])).toThrow(
      "run.table t: row 1 has 1 cells, expected 2",
    );
    expect(() => run.table("bad/name", ["a"], [])).toThrow(/table name "bad\/name" is not allowed/);
    expect(() => run.artifact("ck", "model", "")).toThrow("run.artifact ck: uri must be a non-empty string");
    await run.finish();
    expect(() => run.log({ loss: 1 })).toThrow(`run.log: run ${run.id} is finished`);
    expect(() => run.finish(300)).toThrow("run.finish: exit code must be an integer 0-255, got 300");
  });
});

describe("backend selection", () => {
  it("parses LETHE_TRACKER", () => {
    expect(parseTrackerSpec(undefined)).toEqual(["local"]);
    expect(parseTrackerSpec("")).toEqual(["local"]);
    expect(parseTrackerSpec("wandb, LOCAL,wandb")).toEqual(["wandb", "local"]);
    expect(parseTrackerSpec("none")).toEqual([]);
    expect(() => parseTrackerSpec("local,tensorboard")).toThrow(
      'LETHE_TRACKER: unknown backend "tensorboard" (expected local, wandb or none)',
    );
    expect(() => parseTrackerSpec("none,local")).toThrow(
      'LETHE_TRACKER: "none" cannot be combined with other backends (none,local)',
    );
  });

  it("LETHE_TRACKER=none writes nothing; custom backends receive every call in order", async () => {
    const calls: string[] = [];
    const recorder: Backend = {
      kind: "recorder",
      log: (row: HistoryRow) => calls.push(`log ${row._step} ${JSON.stringify(row.loss)}`),
      summary: (s) => calls.push(`summary ${JSON.stringify(s)}`),
      config: (c) => calls.push(`config ${JSON.stringify(c)}`),
      table: (name, t) => calls.push(`table ${name} ${t.data.length}`),
      artifact: (a) => calls.push(`artifact ${a.name} ${a.uri}`),
      finish: async (code) => {
        calls.push(`finish ${code}`);
      },
    };
    const run = await startRun({
      env: env({ LETHE_TRACKER: "none" }),
      backends: [recorder],
      exitHandlers: false,
      config: { a: 1 },
    });
    expect(run.dir).toBeNull();
    expect(run.backendKinds).toEqual(["recorder"]);
    run.log({ loss: 0.5 });
    run.config.update({ b: 2 });
    run.table("t", ["x"], [[1]]);
    run.artifact("m", "model", "file:///ckpt");
    await run.finish(3);
    expect(calls).toEqual([
      "log 0 0.5",
      'summary {"loss":0.5}',
      'config {"a":1,"b":2}',
      "table t 1",
      "artifact m file:///ckpt",
      "finish 3",
    ]);
    expect(readdirSync(runsDir)).toEqual([]);
  });

  it("takes the run identity from WANDB_* variables, options first, and sweep parameters over the config", async () => {
    const params = join(runsDir, "params.yaml");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(params, "lr:\n  value: 0.003\nlayers:\n  value: [1, 2]\n");
    const run = await startRun({
      name: "explicit-name",
      config: { lr: 1, keep: true },
      exitHandlers: false,
      env: env({
        WANDB_RUN_ID: "sweeprun",
        WANDB_PROJECT: "from-env",
        WANDB_NAME: "env-name",
        WANDB_RUN_GROUP: "g",
        WANDB_TAGS: "a, b",
        WANDB_SWEEP_ID: "sw1",
        WANDB_SWEEP_PARAM_PATH: params,
      }),
    });
    await run.finish();
    const record = await readRun(run.dir!);
    expect(record.meta).toMatchObject({
      id: "sweeprun",
      project: "from-env",
      name: "explicit-name",
      group: "g",
      tags: ["a", "b"],
      sweep: "sw1",
    });
    expect(record.config).toEqual({ lr: 0.003, keep: true, layers: [1, 2] });
    expect(existsSync(join(runsDir, "sweeprun", "run.json"))).toBe(true);
  });
});
