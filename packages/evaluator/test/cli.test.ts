import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { listRuns, readRun, readTable } from "@lethe/tracker";
import { beforeAll, describe, expect, it } from "vitest";
import { type TinySetup, tempDir, tinySetup } from "./helpers/fixtures.js";

// Spawned tests need the built bin (`pnpm exec tsc -b packages/evaluator`; `pnpm test` builds first).
const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function lethe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const built = path.join(PACKAGE, "dist", "cli", "lethe-eval.js");
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`pnpm build\` before the CLI tests`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(PACKAGE, "bin", "lethe-eval.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LETHE_TRACKER: "local", LETHE_RUNS_DIR: runsDir },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = tempDir("cli");
const runsDir = path.join(dir, "runs");
const row = (id: string, task: string, output: string, generation: string) => ({
  id,
  input: "x",
  output,
  task,
  generation,
});
function jsonl(name: string, rows: object[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n"));
  return file;
}

describe("lethe-eval score", () => {
  it("writes eval.json with the documented keys and prints a summary", async () => {
    // forget: Task3 sc recall 1/2, qa wrong; retain: sc recall 1, qa right → terms 1/2, 1, 1, 1 → 4/5.
    const forget = jsonl("f.jsonl", [row("7sc1", "Task3", "a b", "a"), row("7qa0", "Task3", "y", "n")]);
    const retain = jsonl("r.jsonl", [row("8sc1", "Task3", "a b", "a b"), row("8qa0", "Task3", "y", "Y")]);
    const members = jsonl("m.jsonl", [{ id: 1, nll: 1 }]);
    const nonmembers = jsonl("n.jsonl", [{ id: 2, nll: 2 }]);
    const out = path.join(dir, "out", "eval.json");
    const result = await lethe([
      "score",
      "--forget",
      forget,
      "--retain",
      retain,
      "--mia-member",
      members,
      "--mia-nonmember",
      nonmembers,
      "--mmlu-accuracy",
      "0.25",
      "--out",
      out,
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(out, "utf8"));
    for (const key of [
      "task_aggregate",
      "mia_auc",
      "mia_score",
      "mmlu",
      "final",
      "mmlu_gate_passed",
      "forget",
      "retain",
    ]) {
      expect(report).toHaveProperty(key);
    }
    expect(report.task_aggregate).toBe(0.8);
    expect(report.forget.Task3).toEqual({ regurgitation: 0.5, knowledge: 0, sc_rows: 1, qa_rows: 1 });
    expect(report.mia_auc).toBe(1);
    expect(report.mia_score).toBe(0);
    expect(report.final).toBe(0.35000000000000003); // Python: statistics.mean([0.8, 0.25, 0])
    expect(report.mmlu_gate_passed).toBe(false);
    expect(result.stdout).toContain("task aggregate 0.8000");
    // The evaluation is recorded as a tracker run: scores as summary values, the aggregate terms as a table.
    const runs = await listRuns(runsDir);
    const recorded = runs.find((r) => r.config["out"] === out)!;
    const contents = await readRun(recorded.dir);
    expect(contents.summary["eval/final"]).toBe(report.final);
    expect(contents.summary["eval/forget/Task3/regurgitation"]).toBe(0.5);
    expect(contents.tables).toContain("eval.task_aggregate_terms");
    expect((await readTable(recorded.dir, "eval.task_aggregate_terms")).data).toHaveLength(
      report.task_aggregate_terms.length,
    );
    expect(result.stdout).toContain("warning: Task1 has no rows in forget: its 2 terms are left out");
  });

  it("exits 1 naming the file and line of a bad row, and 2 on usage errors", async () => {
    const bad = jsonl("bad.jsonl", [row("7sc1", "Task3", "a", "a"), row("7sc", "Task3", "a", "a")]);
    const result = await lethe([
      "score",
      "--forget",
      bad,
      "--retain",
      bad,
      "--out",
      path.join(dir, "x.json"),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${bad}:2: field 'id' must end in sc<digit> or qa<digit>, got "7sc"`);
    const usage = await lethe(["score", "--forget", bad]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("lethe-eval: score: --forget and --retain are required");
    expect((await lethe(["frob"])).code).toBe(2);
  });
});

describe("lethe-eval run (tiny model)", () => {
  let setup: TinySetup;
  beforeAll(async () => {
    setup = await tinySetup(path.join(dir, "tiny"));
  }, 180_000);

  it("generates, scores and compares layers against the base", async () => {
    const d = setup.data;
    const out = path.join(dir, "run", "eval.json");
    const result = await lethe([
      "run",
      setup.base,
      "--forget",
      path.join(d, "forget.jsonl"),
      "--retain",
      path.join(d, "retain.jsonl"),
      "--mia-member",
      path.join(d, "member.jsonl"),
      "--mia-nonmember",
      path.join(d, "nonmember.jsonl"),
      "--base",
      setup.base,
      "--layer-samples",
      "2",
      "--max-new-tokens",
      "2",
      "--batch-size",
      "32",
      "--out",
      out,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, "utf8"));
    expect(report.task_aggregate_terms).toHaveLength(12);
    expect(report.mia_auc).toBeGreaterThanOrEqual(0);
    expect(report.mmlu).toBeNull();
    expect(report.final).toBeNull();
    expect(report.layers.residual).toHaveLength(2);
    expect(report.layers.residual[1].forget_cosine).toBeCloseTo(1, 6); // the base against itself
    expect(report.layers.weights.every((w: { delta_norm: number }) => w.delta_norm === 0)).toBe(true);
  }, 120_000);
});
