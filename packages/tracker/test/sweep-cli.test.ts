// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
/**
 * `lethe-track sweep` as a user runs it: the built bin (`pnpm build` first, as `pnpm test` does), over a
 * real stage CLI (`lethe-eval score`) and over the quadratic example, which logs through the tracker.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { listRuns, readRun } from "../src/local/reader.js";
import type { SweepRecord } from "../src/sweep/record.js";

const PACKAGE = resolve(__dirname, "..");
const REPO = resolve(PACKAGE, "../..");
const LETHE_TRACK = join(PACKAGE, "bin", "lethe-track.js");
const LETHE_EVAL = join(REPO, "packages", "evaluator", "bin", "lethe-eval.js");

function requireBuilt(...files: string[]): void {
  for (const f of files)
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` before the CLI tests`);
}

function sweep(
  args: string[],
  cwd: string,
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [LETHE_TRACK, "sweep", ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolveDone, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolveDone({ code, stdout, stderr }));
  });
  return { child, done };
}

function readRecord(runsDir: string, id: string): SweepRecord {
  return JSON.parse(readFileSync(join(runsDir, ".sweeps", id, "sweep.json"), "utf8")) as SweepRecord;
}

/** A project directory where `import "@lethe/tracker"` resolves to this package, holding the example. */
function exampleProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "lethe-sweep-cli-"));
  mkdirSync(join(dir, "node_modules", "@lethe"), { recursive: true });
  symlinkSync(PACKAGE, join(dir, "node_modules", "@lethe", "tracker"), "dir");
  mkdirSync(join(dir, "examples", "sweeps"), { recursive: true });
  copyFileSync(
    join(REPO, "examples", "sweeps", "quadratic.mjs"),
    join(dir, "examples", "sweeps", "quadratic.mjs"),
  );
  return dir;
}

describe("lethe-track sweep", () => {
  it("runs 12 trials of a real stage command (lethe-eval score) two at a time and records every one", async () => {
    requireBuilt(
      join(PACKAGE, "dist", "cli", "lethe-track.js"),
      join(REPO, "packages", "evaluator", "dist", "cli", "lethe-eval.js"),
    );
    const dir = mkdtempSync(join(tmpdir(), "lethe-sweep-eval-"));
    const jsonl = (name: string, rows: object[]) => {
      writeFileSync(join(dir, name), rows.map((r) => JSON.stringify(r)).join("\n"));
      return join(dir, name);
    };
    const words = ["alpha", "beta", "gamma", "delta"];
    // Three "models": model k regurgitates the first k of 4 words of the forget passage (ROUGE-L recall
    // k/4) and gets the forget question wrong; all retain the retain set perfectly. Task aggregate =
    // harmonic mean of the terms (1 − k/4, 1, 1, 1) = 4 / (1/(1 − k/4) + 3).
    const forgetFiles = [1, 2, 3].map((k) =>
      jsonl(`forget-${k}.jsonl`, [
        {
          id: "f1sc1",
          task: "Task1",
          input: "x",
          output: words.join(" "),
          generation: words.slice(0, k).join(" "),
        },
        { id: "f1qa1", task: "Task1", input: "q", output: "yes", generation: "no" },
      ]),
    );
    const retain = jsonl("retain.jsonl", [
      { id: "r1sc1", task: "Task1", input: "x", output: "one two three", generation: "one two three" },
      { id: "r1qa1", task: "Task1", input: "q", output: "yes", generation: "yes" },
    ]);
    // Member NLLs 1 and 2 around a non-member at 1.5: AUC 0.5, MIA score 1.
    const members = jsonl("members.jsonl", [
      { id: 1, nll: 1 },
      { id: 2, nll: 2 },
    ]);
    const nonmembers = jsonl("nonmembers.jsonl", [{ id: 3, nll: 1.5 }]);
    const mmlu = [0.2, 0.3, 0.4, 0.5];
    const config = `name: eval-grid
method: grid
command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(LETHE_EVAL)}, score, --retain, ${JSON.stringify(retain)},
          --mia-member, ${JSON.stringify(members)}, --mia-nonmember, ${JSON.stringify(nonmembers)},
          --out, ${JSON.stringify(join(dir, "eval.json"))}, "\${args}"]
parameters:
  forget: {values: ${JSON.stringify(forgetFiles)}}
  mmlu-accuracy: {values: ${JSON.stringify(mmlu)}}
`;
    writeFileSync(join(dir, "sweep.yml"), config);
    const runsDir = join(dir, "runs");
    const { done } = sweep(
      ["sweep.yml", "--parallel", "2", "--runs", runsDir, "--id", "evalgrid", "--quiet"],
      dir,
    );
    const result = await done;
    expect(result.stderr).not.toContain("failed");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("sweep evalgrid (grid, group evalgrid): 12 trials, 12 finished");

    const record = readRecord(runsDir, "evalgrid");
    expect(record.trials).toHaveLength(12);
    expect(record.parallel).toBe(2);
    const runs = await listRuns(runsDir);
    expect(runs).toHaveLength(12);
    for (const t of record.trials) {
      expect(t.state).toBe("finished");
      const run = await readRun(join(runsDir, t.run_id));
      expect(run.meta.group).toBe("evalgrid");
      expect(run.state).toBe("finished");
      // The stage joined the trial's run: its command line and the sweep's parameters are the config.
      expect(run.config).toMatchObject({ ...t.params, command: "score" });
      // The stage's own report line, from this trial's log: final = mean(task aggregate, MIA score, MMLU).
      const k = forgetFiles.indexOf(t.params.forget as string) + 1;
      const ta = 4 / (1 / (1 - k / 4) + 3);
      const final = (ta + 1 + (t.params["mmlu-accuracy"] as number)) / 3;
      const log = readFileSync(join(runsDir, ".sweeps", "evalgrid", `${t.run_id}.log`), "utf8");
      expect(log).toContain(`task aggregate ${ta.toFixed(4)}`);
      expect(log).toContain(`final ${final.toFixed(4)}`);
      // ...and its scores, logged through the tracker, are the trial's summary (what a sweep metric reads).
      expect(run.summary["eval/final"] as number).toBeCloseTo(final, 12);
      expect(run.summary["eval/task_aggregate"] as number).toBeCloseTo(ta, 12);
    }
    // Every (forget, mmlu) pair ran exactly once.
    expect(new Set(record.trials.map((t) => JSON.stringify(t.params))).size).toBe(12);
  });

  it("runs the quadratic example: trials log through the tracker, a failing trial is recorded, the best is printed", async () => {
    requireBuilt(join(PACKAGE, "dist", "index.js"), join(PACKAGE, "dist", "cli", "lethe-track.js"));
    const project = exampleProject();
    writeFileSync(
      join(project, "grid.yml"),
      `program: examples/sweeps/quadratic.mjs
method: grid
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [-1.5, 0.0, 0.3]}
  y: {values: [-0.2, 0.5]}
  steps: {value: 4}
  noise: {value: 0.0}
`,
    );
    const runsDir = join(project, "runs");
    const { done } = sweep(
      ["grid.yml", "--parallel", "2", "--runs", runsDir, "--id", "quad", "--quiet"],
      project,
    );
    const result = await done;
    expect(result.code).toBe(0);
    const record = readRecord(runsDir, "quad");
    expect(record.trials).toHaveLength(6);
    for (const t of record.trials) {
      const { x, y } = t.params as { x: number; y: number };
      const run = await readRun(join(runsDir, t.run_id));
      if (x === -1.5) {
        expect(t.state).toBe("failed");
        expect(t.exit_code).toBe(1);
        expect(run.state).toBe("failed");
        expect(readFileSync(join(runsDir, ".sweeps", "quad", `${t.run_id}.log`), "utf8")).toContain(
          "--x must be in [-1, 1], got -1.5",
        );
        continue;
      }
      // Without noise the logged loss is (x−0.3)² + (y+0.2)² + e^(−step/2); its minimum is the last step.
      const floor = (x - 0.3) ** 2 + (y + 0.2) ** 2;
      expect(t.state).toBe("finished");
      expect(t.metric_source).toBe("run");
      expect(t.metric).toBeCloseTo(floor + Math.exp(-3 / 2), 12);
      expect(run.meta.name).toBe(t.run_id); // named as the sweep names the trial, not after its program
      expect(run.meta.group).toBe("quad");
      expect(run.config).toEqual({ x, y, steps: 4, noise: 0 });
      expect(run.history.map((r) => r.loss)).toEqual([0, 1, 2, 3].map((s) => floor + Math.exp(-s / 2)));
    }
    expect(record.best?.params).toEqual({ steps: 4, noise: 0, x: 0.3, y: -0.2 });
    expect(result.stdout).toContain("6 trials, 4 finished, 2 failed");
    expect(result.stdout).toMatch(
      /best: quad-\d{3} loss = 0\.22313 with --noise=0 --steps=4 --x=0\.3 --y=-0\.2\n/,
    );
  });

  it("on Ctrl-C stops the running trials, records them as killed and exits with 130", async () => {
    requireBuilt(join(PACKAGE, "dist", "index.js"), join(PACKAGE, "dist", "cli", "lethe-track.js"));
    const project = exampleProject();
    writeFileSync(
      join(project, "slow.yml"),
      `program: examples/sweeps/quadratic.mjs
method: random
run_cap: 6
metric: {name: loss}
parameters:
  x: {min: -1.0, max: 1.0}
  steps: {value: 1000}
  sleep-ms: {value: 200}
`,
    );
    const runsDir = join(project, "runs");
    const { child, done } = sweep(
      ["slow.yml", "--parallel", "2", "--runs", runsDir, "--id", "slow", "--quiet", "--seed", "1"],
      project,
    );
    // Wait until both trials have logged (their runs, and exit hooks, are live), then press Ctrl-C.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const record = existsSync(join(runsDir, ".sweeps", "slow", "sweep.json"))
        ? readRecord(runsDir, "slow")
        : null;
      const logging = record?.trials.filter((t) => {
        const history = join(runsDir, t.run_id, "history.jsonl");
        return existsSync(history) && readFileSync(history, "utf8").length > 0;
      });
      if (logging?.length === 2) break;
      if (Date.now() > deadline) throw new Error("the trials did not start logging within 60 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill("SIGINT");
    const result = await done;
    expect(result.code).toBe(130);
    const record = readRecord(runsDir, "slow");
    expect(record.state).toBe("killed");
    expect(record.trials.map((t) => t.state)).toEqual(["killed", "killed"]);
    for (const t of record.trials) {
      const run = await readRun(join(runsDir, t.run_id));
      expect(run.state).toBe("killed");
      expect(run.meta.exit_code).toBe(143); // the trial's own exit hook closed its run on SIGTERM
      expect(run.history.length).toBeLessThan(1000);
    }
  });
});
