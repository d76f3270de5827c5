/**
 * Fault test: SIGTERM sent to `lethe-merge`, `lethe-ckpt cp` and `lethe-eval run` at random points (from
 * process start through publication). Afterwards no staging directory or temporary file remains, no partial
 * checkpoint (or eval.json) is visible, and rerunning the same command succeeds. Spawns the built bins of
 * core, merger, model and evaluator (`pnpm build` first).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { verifyCheckpoint } from "../src/checkpoint/verify.js";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { mix32 } from "../src/data/rng.js";
import { ShardedWeightsWriter } from "../src/safetensors/sharded.js";
import { encodeFromFloat32 } from "../src/tensor/tensor.js";
import { binPath, runBin } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("fault");
const TRIALS_PER_COMMAND = 8;
const SEED = Number(process.env["LETHE_FAULT_SEED"] ?? Date.now() % 1_000_000);
let state = SEED;
/** Uniform in [0, 1), from a seed printed on failure so a run can be repeated (LETHE_FAULT_SEED). */
function random(): number {
  state = mix32(state + 0x9e3779b9);
  return (state >>> 0) / 2 ** 32;
}

const env = { ...process.env, LETHE_TRACKER: "local", LETHE_RUNS_DIR: path.join(root, "runs") };

/** A model of 8 BF16 [512, 512] matrices in several shards (4 MB), values from `seed`. */
async function writeModel(dir: string, seed: number): Promise<string> {
  const specs = Array.from({ length: 8 }, (_, i) => ({
    name: `model.layers.${i}.mlp.up_proj.weight`,
    dtype: "BF16" as const,
    shape: [512, 512],
  }));
  const writer = await CheckpointWriter.begin(dir, { stage: "test" });
  await writer.putJson("config.json", { architectures: ["LlamaForCausalLM"], num_hidden_layers: 8 });
  const weights = ShardedWeightsWriter.create(writer.store, specs, { maxShardBytes: 1_100_000 });
  for (const name of weights.order) {
    const values = new Float32Array(512 * 512);
    let h = mix32(seed ^ name.length);
    for (let i = 0; i < values.length; i++) {
      h = mix32(h + i);
      values[i] = ((h & 0xffff) / 0xffff - 0.5) / 16;
    }
    await weights.writeTensor(name, encodeFromFloat32(values, "BF16"));
  }
  await weights.finish();
  await writer.commit();
  return dir;
}

/** Names of staging directories and temporary files under `dir` (recursively). */
function litter(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter(
    (name) => name.includes(".lethe-staging-") || name.includes(".lethe-tmp-"),
  );
}

interface Command {
  label: string;
  pkg: string;
  bin: string;
  args: (out: string) => string[];
  /** Where OUT goes for trial `i`. */
  out: (i: number) => string;
  /** After a successful run: the output is complete and nothing of the run's bookkeeping is left. */
  check: (out: string) => Promise<void>;
  /** The output, where there is one, is whole. */
  complete: (out: string) => Promise<void>;
  /** The command is in the middle of its work (publishing, or writing results). */
  busy: (out: string) => boolean;
}

function start(
  cmd: Command,
  out: string,
): { child: ChildProcess; exited: Promise<[number | null, string | null]> } {
  const child = spawn(process.execPath, [binPath(cmd.pkg, cmd.bin), ...cmd.args(out)], {
    stdio: "ignore",
    env,
  });
  const exited = new Promise<[number | null, string | null]>((resolve) =>
    child.on("close", (code, signal) => resolve([code, signal])),
  );
  return { child, exited };
}

type Outcome = "interrupted while staging" | "interrupted" | "finished first";

/** How many of the trials' kills landed before the command finished. */
const killsLanded = (outcomes: readonly Outcome[]): number =>
  outcomes.filter((o) => o !== "finished first").length;

/**
 * Even trials kill at a uniform random time over the command's whole span (start-up included); odd trials
 * wait until the command is `busy` (publishing, or writing results) and kill within the next 50 ms.
 */
async function trial(
  cmd: Command,
  i: number,
  duration: number,
): Promise<{ outcome: Outcome; delay: number }> {
  const out = cmd.out(i);
  const { child, exited } = start(cmd, out);
  let delay = random() * duration;
  let staging = false;
  const kill = (): void => {
    staging = litter(path.dirname(out)).length > 0;
    child.kill("SIGTERM");
  };
  let timer: NodeJS.Timeout;
  if (i % 2 === 0) timer = setTimeout(kill, delay);
  else {
    const started = performance.now();
    timer = setInterval(() => {
      if (!cmd.busy(out)) return;
      clearInterval(timer);
      delay = performance.now() - started + random() * 50;
      timer = setTimeout(kill, delay - (performance.now() - started));
    }, 1);
  }
  const [code, signal] = await exited;
  clearTimeout(timer);
  clearInterval(timer);
  const where = `${cmd.label} trial ${i} (SIGTERM after ${delay.toFixed(0)} ms, seed ${SEED})`;
  expect(litter(path.dirname(out)), where).toEqual([]);
  if (code === 0) {
    await cmd.check(out);
    return { outcome: "finished first", delay };
  }
  expect([code, signal], where).toEqual([null, "SIGTERM"]);
  // No partial output is visible: either none, or (killed after publishing) a complete one.
  const outcome = staging ? "interrupted while staging" : "interrupted";
  if (existsSync(out)) {
    await cmd.complete(out);
    return { outcome, delay };
  }
  const rerun = await runBin(cmd.pkg, cmd.bin, cmd.args(out), { env });
  expect(rerun.code, `${where}: rerun: ${rerun.stderr}`).toBe(0);
  await cmd.check(out);
  expect(litter(path.dirname(out)), where).toEqual([]);
  return { outcome, delay };
}

describe("SIGTERM at random points", () => {
  it(`leaves no staging, no partial output, and the rerun succeeds (${TRIALS_PER_COMMAND} kills per command)`, async () => {
    binPath("merger", "lethe-merge");
    binPath("evaluator", "lethe-eval");
    binPath("model", "lethe-model");
    const base = await writeModel(path.join(root, "base"), 1);
    const a = await writeModel(path.join(root, "a"), 2);
    const b = await writeModel(path.join(root, "b"), 3);
    const config = path.join(root, "ties.yml");
    writeFileSync(
      config,
      `merge_method: ties\nbase_model: ${base}\nmodels:\n  - model: ${a}\n    parameters: {weight: 1, density: 0.5}\n` +
        `  - model: ${b}\n    parameters: {weight: 1, density: 0.5}\n`,
    );
    const data = path.join(root, "data");
    expect((await runBin("core", "lethe-data", ["synth", "--out", data, "--seed", "3"])).code).toBe(0);
    const tiny = path.join(root, "tiny");
    const init = await runBin(
      "model",
      "lethe-model",
      [
        "init",
        tiny,
        "--arch",
        "llama",
        "--layers",
        "2",
        "--hidden",
        "32",
        "--heads",
        "4",
        "--intermediate",
        "64",
      ].concat(["--vocab-from", path.join(data, "corpus.txt"), "--vocab-size", "300", "--seed", "1"]),
      { env },
    );
    expect(init.code, init.stderr).toBe(0);

    const verified = async (out: string) => {
      const result = await verifyCheckpoint(out);
      expect(result.problems).toEqual([]);
    };
    const commands: Command[] = [
      {
        label: "merge",
        pkg: "merger",
        bin: "lethe-merge",
        args: (out) => [config, out, "--threads", "1", "--out-shard-size", "300k", "--quiet"],
        out: (i) => path.join(root, "merge", `out-${i}`),
        check: verified,
        complete: verified,
        busy: (out) => litter(path.dirname(out)).length > 0,
      },
      {
        label: "cp",
        pkg: "core",
        bin: "lethe-ckpt",
        args: (out) => ["cp", a, out],
        out: (i) => path.join(root, "cp", `out-${i}`),
        check: verified,
        complete: verified,
        busy: (out) => litter(path.dirname(out)).length > 0,
      },
      {
        label: "eval",
        pkg: "evaluator",
        bin: "lethe-eval",
        args: (out) => [
          "run",
          tiny,
          ...["--forget", path.join(data, "forget.jsonl"), "--retain", path.join(data, "retain.jsonl")],
          ...[
            "--mia-member",
            path.join(data, "member.jsonl"),
            "--mia-nonmember",
            path.join(data, "nonmember.jsonl"),
          ],
          ...["--max-new-tokens", "2", "--batch-size", "4", "--resume", "--out", out],
        ],
        out: (i) => path.join(root, "eval", `${i}`, "eval.json"),
        check: async (out) => {
          expect(JSON.parse(readFileSync(out, "utf8")).task_aggregate_terms).toHaveLength(12);
          expect(existsSync(`${out}.partial.jsonl`)).toBe(false);
        },
        busy: (out) => existsSync(`${out}.partial.jsonl`),
        complete: async (out) => {
          expect(JSON.parse(readFileSync(out, "utf8")).task_aggregate_terms).toHaveLength(12);
        },
      },
    ];
    const outcomes: Record<string, Outcome[]> = {};
    for (const cmd of commands) {
      mkdirSync(path.dirname(cmd.out(0)), { recursive: true });
      // One uninterrupted run measures how long the command takes; kills land anywhere in that span.
      const started = performance.now();
      const first = await runBin(cmd.pkg, cmd.bin, cmd.args(cmd.out(-1)), { env });
      let duration = performance.now() - started;
      expect(first.code, first.stderr).toBe(0);
      rmSync(cmd.out(-1), { recursive: true, force: true });
      // Trials go on until TRIALS_PER_COMMAND kills have landed (at most three times as many trials). A command
      // that finished before an even trial's kill runs shorter than that first run (which may have been slowed
      // by a load spike): later kills are drawn within the shorter span.
      const seen: Outcome[] = [];
      outcomes[cmd.label] = seen;
      for (let i = 0; killsLanded(seen) < TRIALS_PER_COMMAND && i < 3 * TRIALS_PER_COMMAND; i++) {
        const { outcome, delay } = await trial(cmd, i, duration);
        seen.push(outcome);
        if (outcome === "finished first" && i % 2 === 0) duration = Math.min(duration, delay);
      }
    }
    // The kills must mostly land while the command runs, and some while it publishes, or the test shows nothing.
    const count = (label: string, what: Outcome) => outcomes[label]!.filter((r) => r === what).length;
    const report = process.env["LETHE_FAULT_REPORT"]; // a file to write the outcomes to, for a look
    if (report) writeFileSync(report, `${JSON.stringify({ seed: SEED, outcomes }, null, 1)}\n`);
    // A quick command (cp) outruns most kills that wait for it to be busy; the even trials' must land.
    for (const label of Object.keys(outcomes)) {
      expect(killsLanded(outcomes[label]!), `${label}: ${outcomes[label]}`).toBe(TRIALS_PER_COMMAND);
    }
    expect(count("merge", "interrupted while staging"), JSON.stringify(outcomes)).toBeGreaterThan(0);
  }, 300_000);
});
