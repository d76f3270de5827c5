/**
 * The README's main job, reduced (`examples/semeval-mini/run.sh --small`: 15 forget + 15 retain rows, zero-shot
 * MMLU), run as a user runs it — the stage CLIs, the RMU layer sweep, the table and results.json — once with a
 * local store and once with every checkpoint in S3 (the test Ceph). Asserts the direction of every claim the
 * README makes about the table: the memorised model regurgitates the forget set, the unlearned models forget
 * more while retain stays close, the over-forgetting run forgets more than the under-forgetting one and the TIES
 * merges of their adapters sit between them on forget.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../core/test/helpers/cli.js";
import { createTestBucket, s3, type TestBucket } from "../../core/test/helpers/s3.js";

type Cell = { regurgitation: number | null; knowledge: number | null };
type Report = {
  task_aggregate: number | null;
  final: number | null;
  mia_score: number | null;
  mmlu: number | null;
  forget: Record<string, Cell>;
  retain: Record<string, Cell>;
  layers?: unknown;
};
const MODELS = ["memorised", "zju-over", "zju-under", "ties-factorwise", "ties-delta", "adaptive-rmu"];
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The mean of the six forget (or retain) numbers, as the table's fgt/ret columns. */
function mean(report: Report, split: "forget" | "retain"): number {
  const xs: number[] = [];
  for (const task of ["Task1", "Task2", "Task3"])
    for (const m of ["regurgitation", "knowledge"] as const) {
      const x = report[split][task]?.[m];
      expect(typeof x, `${split} ${task} ${m}`).toBe("number");
      xs.push(x as number);
    }
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function runScript(out: string, extra: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(
    "bash",
    [
      path.join(REPO_ROOT, "examples/semeval-mini/run.sh"),
      "--small",
      "--out",
      out,
      "--parallel",
      "1",
      ...extra,
    ],
    { cwd: REPO_ROOT, env: { ...env, LETHE_RUNS_DIR: path.join(out, "runs") }, encoding: "utf8" },
  );
}

async function runPipeline(extra: string[], env: NodeJS.ProcessEnv = process.env, into?: string) {
  const out = into ?? (await mkdtemp(path.join(tmpdir(), "lethe-semeval-mini-")));
  if (!into) dirs.push(out);
  const result = runScript(out, extra, env);
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  const results = JSON.parse(await readFile(path.join(out, "results.json"), "utf8")) as Record<
    string,
    Report
  >;
  return { out, results, stdout: result.stdout };
}

/** The comparison table's model rows, as printed. */
function tableOf(stdout: string): string[] {
  return stdout.split("\n").filter((line) => MODELS.some((m) => line.startsWith(`${m} `)));
}

function assertClaims(results: Record<string, Report>, stdout: string) {
  expect(Object.keys(results).sort()).toEqual([...MODELS].sort());
  const fgt = Object.fromEntries(MODELS.map((m) => [m, mean(results[m]!, "forget")]));
  const ret = Object.fromEntries(MODELS.map((m) => [m, mean(results[m]!, "retain")]));
  // The memorised model regurgitates the forget set.
  expect(fgt["memorised"]).toBeGreaterThan(0.7);
  expect(ret["memorised"]).toBeGreaterThan(0.7);
  // Every unlearned model forgets more than the memorised one; retain stays close.
  for (const m of MODELS.slice(1)) {
    expect(fgt[m], m).toBeLessThan(fgt["memorised"]!);
    expect(ret[m], m).toBeGreaterThan(ret["memorised"]! - 0.3);
  }
  // Over forgets more than under; under keeps retain at least as well as over.
  expect(fgt["zju-over"]).toBeLessThan(fgt["zju-under"]!);
  expect(ret["zju-under"]).toBeGreaterThanOrEqual(ret["zju-over"]!);
  // The merges sit between the two specialised models on forget.
  for (const m of ["ties-factorwise", "ties-delta"]) {
    expect(fgt[m], m).toBeGreaterThanOrEqual(fgt["zju-over"]!);
    expect(fgt[m], m).toBeLessThanOrEqual(fgt["zju-under"]!);
  }
  // Every model was compared layer by layer with the memorised one, and the table names every model.
  for (const m of MODELS) {
    expect(results[m]!.layers, m).toBeTruthy();
    expect(stdout).toContain(m);
  }
  expect(stdout).toMatch(/adaptive-rmu: the best of 3 sweep trials/);
}

describe("examples/semeval-mini (reduced)", () => {
  it("runs the whole pipeline with a local store and every claim of the README holds", async () => {
    const { out, results, stdout } = await runPipeline([]);
    assertClaims(results, stdout);
    expect(existsSync(path.join(out, "checkpoints", "ties-factorwise"))).toBe(true);
    expect((await readdir(path.join(out, "rmu-eval"))).filter((f) => f.endsWith(".json"))).toHaveLength(3);
    expect((await readdir(path.join(out, "runs"))).length).toBeGreaterThan(10);

    // A second run into the same folder is refused (its checkpoints are immutable) and loses nothing...
    const before = await readFile(path.join(out, "results.json"), "utf8");
    const again = runScript(out, []);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`${out} already holds a run`);
    expect(again.stderr).toContain("--fresh");
    expect(await readFile(path.join(out, "results.json"), "utf8")).toBe(before);
    // ...and with --fresh it replaces the earlier run, printing the same table (training and scoring are
    // deterministic, as the README says).
    const fresh = await runPipeline(["--fresh"], process.env, out);
    expect(fresh.stdout).toContain("--fresh: removing the earlier run");
    expect(tableOf(fresh.stdout)).toHaveLength(MODELS.length);
    expect(tableOf(fresh.stdout)).toEqual(tableOf(stdout));
  }, 600_000);

  it("refuses --fresh for a store it did not create", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "lethe-semeval-mini-"));
    dirs.push(out);
    const store = path.join(out, "elsewhere");
    await mkdir(path.join(store, "base"), { recursive: true });
    const result = runScript(out, ["--fresh", "--store", store]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`${store} holds an earlier run's checkpoints`);
    expect(existsSync(path.join(store, "base"))).toBe(true);
  });

  describe.skipIf(!s3)("with every checkpoint in S3", () => {
    let bucket: TestBucket;
    afterAll(async () => {
      await bucket?.remove();
    });
    it("runs the same against the test S3 server", async () => {
      bucket = await createTestBucket("semeval-mini");
      const env = {
        ...process.env,
        AWS_ENDPOINT_URL: s3!.endpoint,
        AWS_REGION: s3!.region,
        AWS_ACCESS_KEY_ID: s3!.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
        LETHE_S3_FORCE_PATH_STYLE: "1",
      };
      const { out, results, stdout } = await runPipeline(["--store", bucket.uri("mini")], env);
      assertClaims(results, stdout);
      expect(existsSync(path.join(out, "checkpoints"))).toBe(false);
      const keys = await bucket.keys("mini/");
      for (const name of ["base", "memorised/final", "zju-over/final", "ties-factorwise", "ties-delta"])
        expect(
          keys.some((k) => k.startsWith(`mini/${name}/`)),
          name,
        ).toBe(true);
      expect(keys.some((k) => /^mini\/rmu\/[^/]+\/final\//.test(k))).toBe(true);
    }, 400_000);
  });
});
