/**
 * Every sweep example under examples/sweeps/ run by `lethe-track sweep FILE --parallel 2` as its header says, made
 * small: each example is copied to a temporary directory with its method, metric, parameters and program kept, and
 * only what points at the real world replaced — `run_cap` lowered to 2 (3 for the quadratic stand-in), the 1B/7B
 * checkpoints replaced by a tiny 16-layer OLMo-style model (16 layers, so the examples' hook layers 3..14 exist)
 * and two hand-written PEFT adapters, the SemEval data by `lethe-data synth --size tiny`, and a few bounding
 * parameters added (1 epoch of 2 steps, 4 new tokens, zero-shot MMLU, checkpoints under the temporary directory).
 * Asserts that each sweep ran its trials to completion, every trial recorded the metric in its run's summary, and
 * the sweep named a best trial. A new example whose paths the test does not know fails here, by name.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { binPath, REPO_ROOT } from "../../core/test/helpers/cli.js";
import { readRun } from "../../tracker/src/local/reader.js";
import type { SweepRecord } from "../../tracker/src/sweep/record.js";

const SWEEPS = path.join(REPO_ROOT, "examples", "sweeps");
const EXAMPLES = readdirSync(SWEEPS)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => ({
    file: f,
    doc: parse(readFileSync(path.join(SWEEPS, f), "utf8")) as Record<string, unknown>,
  }))
  .filter(({ doc }) => doc["program"] !== undefined || doc["command"] !== undefined);

let dir: string;
let paths: Record<string, string>;

function cli(pkg: string, name: string, args: string[]): void {
  const result = spawnSync(process.execPath, [binPath(pkg, name), ...args], {
    cwd: dir,
    env: { ...process.env, LETHE_RUNS_DIR: path.join(dir, "setup-runs") },
    encoding: "utf8",
  });
  expect(result.status, `${name} ${args.join(" ")}\n${result.stdout}\n${result.stderr}`).toBe(0);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lethe-sweep-examples-"));
  const data = path.join(dir, "data");
  const base = path.join(dir, "base");
  cli("core", "lethe-data", ["synth", "--out", data, "--seed", "1", "--size", "tiny"]);
  cli("model", "lethe-model", [
    "init",
    base,
    ...["--arch", "olmo", "--layers", "16", "--hidden", "16", "--heads", "2", "--intermediate", "32"],
    ...["--vocab-size", "512", "--vocab-from", path.join(data, "corpus.txt"), "--seed", "1"],
  ]);
  // Two PEFT adapters "from another tool" stand in for ZJU's over- and under-forgetting NPO runs.
  const adapters = spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, "examples/swap-a-stage/other-tool-adapters.mjs"), base, path.join(dir, "adapters")],
    { encoding: "utf8" },
  );
  expect(adapters.status, adapters.stderr).toBe(0);
  // The examples' real-world paths → the tiny stand-ins.
  paths = {
    "checkpoints/olmo-1b": base,
    "checkpoints/olmo-7b": base,
    "checkpoints/npo-over-forget": path.join(dir, "adapters", "adapter-a"),
    "checkpoints/npo-under-forget": path.join(dir, "adapters", "adapter-b"),
    "data/semeval25/train/forget.jsonl": path.join(data, "forget.jsonl"),
    "data/semeval25/train/retain.jsonl": path.join(data, "retain.jsonl"),
    "data/semeval25/validation/forget.jsonl": path.join(data, "forget.jsonl"),
    "data/semeval25/validation/retain.jsonl": path.join(data, "retain.jsonl"),
    "data/semeval25/mia/member.jsonl": path.join(data, "member.jsonl"),
    "data/semeval25/mia/nonmember.jsonl": path.join(data, "nonmember.jsonl"),
    "data/mmlu": path.join(data, "mmlu"),
  };
  // The files the sweeps point at, rewritten the same way.
  paths["examples/sweeps/lib/rmu-data.yml"] = await derive("lib/rmu-data.yml", (doc) => {
    (doc["data"] as Record<string, unknown>)["max_len"] = 32;
  });
  paths["examples/sweeps/ties-zju.yml"] = await derive("ties-zju.yml");
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A known example path → its stand-in; any other path-like string is an error naming it. */
function local(value: string, where: string): string {
  const [model, lora] = value.split("+");
  if (lora !== undefined) return `${local(model!, where)}+${local(lora, where)}`;
  const mapped = paths[value];
  if (mapped) return mapped;
  // The trial programs are the examples' own.
  if (/^examples\/sweeps\/[\w-]+\.mjs$/.test(value)) return path.join(REPO_ROOT, value);
  if (/^(data|checkpoints|examples)\//.test(value))
    throw new Error(`${where}: ${value} has no tiny stand-in in sweep-examples.test.ts`);
  return value;
}

/** Every string in a YAML document through `local`. */
function localise(node: unknown, where: string): unknown {
  if (typeof node === "string") return local(node, where);
  if (Array.isArray(node)) return node.map((x, i) => localise(x, `${where}[${i}]`));
  if (node && typeof node === "object")
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, localise(v, `${where}.${k}`)]));
  return node;
}

/** examples/sweeps/FILE with its paths localised (and `edit` applied), written to the temporary directory. */
async function derive(file: string, edit?: (doc: Record<string, unknown>) => void): Promise<string> {
  const doc = localise(parse(await readFile(path.join(SWEEPS, file), "utf8")), file) as Record<
    string,
    unknown
  >;
  edit?.(doc);
  const out = path.join(dir, path.basename(file));
  await writeFile(out, stringify(doc));
  return out;
}

describe("examples/sweeps, each run small by lethe-track sweep", () => {
  it.each(EXAMPLES.map((e) => e.file))(
    "%s",
    async (file) => {
      const original = EXAMPLES.find((e) => e.file === file)!.doc;
      const program = String(original["program"]);
      const id = file.replace(/\.yml$/, "");
      const trials = program.endsWith("quadratic.mjs") ? 3 : 2;
      const sweepFile = await derive(file, (doc) => {
        doc["run_cap"] = trials;
        const params = doc["parameters"] as Record<string, Record<string, unknown>>;
        const bound: Record<string, unknown> = {};
        if (program.endsWith("rmu-and-score.mjs")) {
          Object.assign(bound, { epochs: 1, max_steps: 2, threads: 1, out_root: path.join(dir, "ckpt", id) });
        } else if (program.endsWith("merge-and-score.mjs")) {
          bound["out_root"] = path.join(dir, "ckpt", id);
        }
        if (program.endsWith("-and-score.mjs")) {
          bound["eval.max-new-tokens"] = 4;
          if (params["eval.mmlu"]) bound["eval.ntrain"] = 0;
        }
        for (const [name, value] of Object.entries(bound)) {
          expect(params[name], `${file} already sets ${name}`).toBeUndefined();
          params[name] = { value };
        }
      });
      const runsDir = path.join(dir, "runs", id);
      const started = Date.now();
      const result = spawnSync(
        process.execPath,
        [
          binPath("tracker", "lethe-track"),
          "sweep",
          sweepFile,
          "--parallel",
          "2",
          "--runs",
          runsDir,
          "--id",
          id,
        ],
        { cwd: dir, encoding: "utf8", env: { ...process.env, LETHE_RUNS_DIR: runsDir }, timeout: 110_000 },
      );
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.status, output).toBe(0);

      const record = JSON.parse(
        await readFile(path.join(runsDir, ".sweeps", id, "sweep.json"), "utf8"),
      ) as SweepRecord;
      const metric = (original["metric"] as { name: string }).name;
      expect(record.method).toBe(original["method"]);
      expect(record.metric?.name).toBe(metric);
      expect(record.state).toBe("finished");
      expect(record.trials, output).toHaveLength(trials);
      const earlyTerminate = original["early_terminate"] !== undefined;
      for (const t of record.trials) {
        // Hyperband may stop a slow learner (the quadratic example): it logged the metric all the same.
        expect(earlyTerminate ? ["finished", "stopped"] : ["finished"], `${t.run_id}: ${t.note}`).toContain(
          t.state,
        );
        expect(t.metric, `${t.run_id} recorded ${metric}`).toEqual(expect.any(Number));
        expect(Number.isFinite(t.metric)).toBe(true);
        const run = await readRun(path.join(runsDir, t.run_id));
        expect(run.summary[metric], `${t.run_id} summary`).toEqual(expect.any(Number));
        // The sweep's parameters reached the trial as given (the trial's flags name them).
        for (const name of Object.keys(original["parameters"] as object))
          expect(t.params, `${t.run_id}`).toHaveProperty([name]);
      }
      expect(record.best, output).not.toBeNull();
      if (program.endsWith("-and-score.mjs"))
        for (const t of record.trials) expect(existsSync(path.join(dir, "ckpt", id, t.run_id))).toBe(true);
      process.stderr.write(`${file}: ${trials} trials in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    },
    120_000,
  );
});
