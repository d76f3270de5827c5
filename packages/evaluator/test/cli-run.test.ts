/** lethe-eval run as a new user meets it: checks before generating, help, resumable results, the run record. */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { listRuns, readRun } from "@lethe/tracker";
import { beforeAll, describe, expect, it } from "vitest";
import { type TinySetup, tempDir, tinySetup } from "./helpers/fixtures.js";

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = tempDir("cli-run");
const runsDir = path.join(dir, "runs");

function start(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
} {
  const built = path.join(PACKAGE, "dist", "cli", "lethe-eval.js");
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`pnpm build\` before the CLI tests`);
  const child = spawn(process.execPath, [path.join(PACKAGE, "bin", "lethe-eval.js"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LETHE_TRACKER: "local", LETHE_RUNS_DIR: runsDir },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
  return { child, done };
}
const lethe = (args: string[]) => start(args).done;

/** The flags a README code block documents for `lethe-eval <command>`. */
function documentedFlags(command: string): string[] {
  const readme = readFileSync(path.join(PACKAGE, "README.md"), "utf8");
  const block = /```\n(lethe-eval score[\s\S]*?)```/.exec(readme)![1]!;
  const part = block.split(/\n(?=lethe-eval )/).find((p) => p.startsWith(`lethe-eval ${command}`))!;
  return [...new Set(part.match(/--[a-z-]+/g) ?? [])];
}

describe("lethe-eval --help", () => {
  it("works on every subcommand and lists every flag the README documents", async () => {
    for (const command of ["score", "run"]) {
      const r = await lethe([command, "--help"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: lethe-eval ${command} `));
      const flags = documentedFlags(command);
      expect(flags.length).toBeGreaterThan(5);
      for (const flag of flags) expect(r.stdout, `${command} --help lacks ${flag}`).toContain(flag);
    }
  });
});

describe("lethe-eval run (tiny model)", () => {
  let setup: TinySetup;
  let common: string[];
  beforeAll(async () => {
    setup = await tinySetup(path.join(dir, "tiny"));
    const d = setup.data;
    common = [
      setup.base,
      "--forget",
      path.join(d, "forget.jsonl"),
      "--retain",
      path.join(d, "retain.jsonl"),
      "--mia-member",
      path.join(d, "member.jsonl"),
      "--mia-nonmember",
      path.join(d, "nonmember.jsonl"),
      "--max-new-tokens",
      "3",
    ];
  }, 180_000);

  it("checks every input before generating: NLL rows as MIA documents, MMLU dev files, --out", async () => {
    const nll = path.join(dir, "nll.jsonl");
    writeFileSync(nll, '{"id":"1","nll":2.5}\n{"id":"2","nll":1.5}\n');
    const args = (extra: string[], out = path.join(dir, "x", "eval.json")) => [
      "run",
      ...common,
      ...extra,
      "--out",
      out,
    ];
    const mia = await lethe([
      "run",
      ...withFlag(common, "--mia-member", nll),
      "--out",
      path.join(dir, "x", "eval.json"),
    ]);
    expect(mia.code).toBe(1);
    expect(mia.stderr).toBe(
      `lethe-eval: ${nll}: holds {id, nll} rows (NLLs already computed, as \`lethe-eval score --mia-member\` reads), not MIA documents {id, document}\n`,
    );

    const mmlu = path.join(dir, "mmlu-no-dev");
    cpSync(path.join(setup.data, "mmlu"), mmlu, { recursive: true });
    rmSync(path.join(mmlu, "dev"), { recursive: true });
    const noDev = await lethe([...args(["--mmlu", mmlu])]);
    expect(noDev.code).toBe(1);
    expect(noDev.stderr).toMatch(
      new RegExp(
        `^lethe-eval: ${mmlu}: missing dev/\\w+_dev\\.csv, .*: --ntrain 5 takes few-shot examples from them; add them or pass --ntrain 0 for zero-shot\\n$`,
      ),
    );

    const outDir = path.join(dir, "out-is-a-dir");
    mkdirSync(outDir, { recursive: true });
    const badOut = await lethe(args([], outDir));
    expect(badOut.code).toBe(1);
    expect(badOut.stderr).toBe(
      `lethe-eval: --out ${outDir}: is a directory; give a file name such as ${path.join(outDir, "eval.json")}\n`,
    );
    // Nothing was generated and no partial results were left for any of them.
    for (const r of [mia, noDev, badOut]) expect(r.stderr).not.toContain("generate forget");
    expect(existsSync(path.join(dir, "x", "eval.json.partial.jsonl"))).toBe(false);
  });

  it("keeps results in a partial file when interrupted, refuses to drop them, and --resume finishes with the same predictions", async () => {
    const whole = path.join(dir, "whole");
    const once = await lethe([
      "run",
      ...common,
      "--batch-size",
      "1",
      "--predictions",
      whole,
      "--out",
      path.join(whole, "eval.json"),
    ]);
    expect(once.code, once.stderr).toBe(0);

    const cut = path.join(dir, "cut");
    const out = path.join(cut, "eval.json");
    const partial = `${out}.partial.jsonl`;
    const args = ["run", ...common, "--batch-size", "1", "--predictions", cut, "--out", out, "--resume"];
    const first = start(args);
    await waitFor(() => existsSync(partial) && readFileSync(partial, "utf8").split("\n").length > 6);
    first.child.kill("SIGTERM");
    const killed = await first.done;
    expect(killed.signal).toBe("SIGTERM");
    expect(existsSync(out)).toBe(false);
    const kept = readFileSync(partial, "utf8").trim().split("\n").length - 1;
    expect(kept).toBeGreaterThanOrEqual(5);

    const refused = await lethe(args.filter((a) => a !== "--resume"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^lethe-eval: ${partial}: holds \\d+ batches of results of an interrupted evaluation: run the same command with --resume to continue it, or delete the file to start over\\n$`,
      ),
    );

    const resumed = await lethe(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    const n = Number(/resuming from .*: (\d+) results kept/.exec(resumed.stderr)![1]);
    expect(n).toBeGreaterThanOrEqual(kept);
    expect(existsSync(partial)).toBe(false);
    for (const file of ["forget.jsonl", "retain.jsonl", "member_nll.jsonl", "nonmember_nll.jsonl"]) {
      expect(readFileSync(path.join(cut, file), "utf8"), file).toBe(
        readFileSync(path.join(whole, file), "utf8"),
      );
    }
    const a = JSON.parse(readFileSync(out, "utf8"));
    const b = JSON.parse(readFileSync(path.join(whole, "eval.json"), "utf8"));
    expect(a.task_aggregate).toBe(b.task_aggregate);
    expect(a.mia_auc).toBe(b.mia_auc);
  }, 180_000);

  it("records the run from the start: progress rows, typed config, real exit status, checkpoint artifacts", async () => {
    const out = path.join(dir, "tracked", "eval.json");
    const r = await lethe(["run", ...common, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const record = (await listRuns(runsDir)).find((x) => x.config["out"] === out)!;
    const run = await readRun(record.dir);
    expect(run.meta).toMatchObject({ job_type: "eval", state: "finished", exit_code: 0 });
    expect(run.config["max_new_tokens"]).toBe(3);
    expect(run.config["ntrain"]).toBe(5);
    expect(run.history.length).toBeGreaterThanOrEqual(4); // forget, retain, members, non-members at least
    expect(run.history.at(-1)!["progress/mia_non_members"]).toBe(1);
    expect(run.artifacts.map((x) => [x.uri, x.type, x.metadata["role"]])).toEqual([
      [setup.base, "model", "input"],
      [out, "evaluation", "output"],
    ]);
    expect(run.artifacts[1]!.metadata["parents"]).toEqual([setup.base]);

    mkdirSync(path.join(dir, "out-is-a-dir"), { recursive: true });
    const failed = await lethe(["run", ...common, "--out", path.join(dir, "out-is-a-dir")]);
    expect(failed.code).toBe(1);
    const failedRun = (await listRuns(runsDir)).find(
      (x) => x.config["out"] === path.join(dir, "out-is-a-dir"),
    )!;
    expect(failedRun.meta).toMatchObject({ state: "failed", exit_code: 1 });
  }, 120_000);
});

function withFlag(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

async function waitFor(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
