/** The lethe-merge command: arguments, overrides, exit codes and messages (spawns the built CLI). */
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { readRun } from "@lethe/tracker";
import { describe, expect, it } from "vitest";
import { runBin } from "../../core/test/helpers/cli.js";
import { parseSize } from "../src/cli/lethe-merge.js";
import { type TestTensor, tempDir, writeModel } from "./helpers/checkpoints.js";

const dir = tempDir("cli");

function tensors(shift: number): TestTensor[] {
  return [
    {
      name: "model.layers.0.mlp.up_proj.weight",
      dtype: "BF16",
      shape: [4, 4],
      values: Array.from({ length: 16 }, (_, i) => ((i % 7) - 3 + shift * ((i % 3) - 1)) / 64),
    },
    { name: "model.norm.weight", dtype: "BF16", shape: [4], values: [1, 1, 1, 1] },
  ];
}

describe("lethe-merge", async () => {
  const base = await writeModel(path.join(dir, "base"), tensors(0), { tokenizer: true });
  const a = await writeModel(path.join(dir, "a"), tensors(1));
  const b = await writeModel(path.join(dir, "b"), tensors(2));
  const config = path.join(dir, "ties.yml");
  await fs.writeFile(
    config,
    `merge_method: ties
base_model: ${base}
models:
  - model: ${a}
    parameters: {weight: 1, density: 0.5}
  - model: ${b}
    parameters: {weight: 1, density: 0.5}
`,
  );

  it("prints the plan with overrides applied, as a W&B sweep agent passes them", async () => {
    const r = await runBin("merger", "lethe-merge", [
      config,
      "--dry-run",
      "--models.1.parameters.density=0.75",
      "--parameters.lambda",
      "2",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`    ${b}: weight 1, density 0.75`);
    expect(r.stdout).toContain("normalize true, rescale false, lambda 2");
  });

  it("merges and publishes, summarizing on stdout", async () => {
    const out = path.join(dir, "out");
    const r = await runBin("merger", "lethe-merge", [
      config,
      out,
      "--threads",
      "2",
      "--random-seed",
      "3",
      "--quiet",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^merged 2 of 2 tensors \\(ties, mergekit\\) in [\\d.]+ s → file://${out}\\n`),
    );
    expect(existsSync(path.join(out, "lethe.json"))).toBe(true);
    expect(existsSync(path.join(out, "tokenizer.json"))).toBe(true);
  });

  it("records a tracker run by default: statistics, typed config, progress, input and output checkpoints", async () => {
    const runs = path.join(dir, "runs");
    const out = path.join(dir, "out-tracked");
    const { LETHE_TRACKER: _unset, ...env } = process.env;
    const r = await runBin("merger", "lethe-merge", [config, out, "--threads", "1"], {
      env: { ...env, LETHE_RUNS_DIR: runs },
    });
    expect(r.code).toBe(0);
    const runDir = /tracked in (.+)\n/.exec(r.stderr)![1]!;
    const run = await readRun(runDir);
    expect(run.meta).toMatchObject({ job_type: "merge", state: "finished", exit_code: 0 });
    expect(run.config["models"]).toEqual([
      { model: a, parameters: { weight: 1, density: 0.5 } },
      { model: b, parameters: { weight: 1, density: 0.5 } },
    ]);
    expect(run.config["semantics"]).toBe("mergekit");
    expect(run.history.at(-1)!["progress/merge"]).toBe(1);
    expect(run.artifacts.map((x) => [x.uri, x.metadata["role"]])).toEqual([
      [base, "input"],
      [a, "input"],
      [b, "input"],
      [`file://${out}`, "output"],
    ]);
    expect(run.artifacts[3]!.metadata["parents"]).toEqual([`file://${base}`, `file://${a}`, `file://${b}`]);
    const opted = await runBin("merger", "lethe-merge", [config, `${out}-none`, "--threads", "1"], {
      env: { ...env, LETHE_RUNS_DIR: path.join(dir, "runs-none"), LETHE_TRACKER: "none" },
    });
    expect(opted.code).toBe(0);
    expect(existsSync(path.join(dir, "runs-none"))).toBe(false);
    const summary = JSON.parse(await fs.readFile(path.join(runDir, "summary.json"), "utf8"));
    const manifest = JSON.parse(await fs.readFile(path.join(out, "lethe.json"), "utf8"));
    // The same numbers as the manifest's metrics.
    expect(summary["merge/sign_conflict_rate"]).toBe(manifest.metrics["merge/sign_conflict_rate"]);
    expect(summary[`merge/${a}/kept_fraction`]).toBe(manifest.metrics[`merge/${a}/kept_fraction`]);
    const table = JSON.parse(
      await fs.readFile(path.join(runDir, "tables", "merge_layers.table.json"), "utf8"),
    );
    expect(table.columns).toEqual([
      "layer",
      "model",
      "kept_fraction",
      "rejected_fraction",
      "l2_before",
      "l2_after",
      "sign_conflict_rate",
    ]);
    expect(table.data.map((row: unknown[]) => row.slice(0, 2))).toEqual([
      ["0", a],
      ["0", b],
      ["other", a],
      ["other", b],
    ]);
  });

  it("exits 2 with usage on bad arguments and 1 with the reason on a bad config", async () => {
    const unknown = await runBin("merger", "lethe-merge", [config, "out", "--frobnicate=1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^lethe-merge: unknown option --frobnicate \(config fields are overridden as --<field>=<value>/,
    );
    expect(unknown.stderr).toContain("usage: lethe-merge CONFIG.yml OUT_URI");
    const semantics = await runBin("merger", "lethe-merge", [config, "out", "--semantics", "ties"]);
    expect(semantics.code).toBe(2);
    expect(semantics.stderr).toContain(
      'lethe-merge: --semantics: expected one of mergekit, paper, peft, got "ties"',
    );
    const typo = await runBin("merger", "lethe-merge", [
      config,
      "--dry-run",
      "--models.1.parameters.densty=0.6",
    ]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toBe(
      `lethe-merge: ${config}: models.1.parameters.densty: unknown parameter "densty" (known: weight, density, gamma, epsilon, normalize, rescale, lambda, int8_mask); did you mean "density"?\n`,
    );
    const missing = await runBin("merger", "lethe-merge", [path.join(dir, "nope.yml"), "out"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `lethe-merge: ${path.join(dir, "nope.yml")}: cannot read the config (ENOENT)\n`,
    );
  });

  it("refuses models whose config.json disagrees with the base, naming both", async () => {
    const mamba = await writeModel(path.join(dir, "mamba"), tensors(1), {
      config: { architectures: ["MambaForCausalLM"], num_hidden_layers: 2, torch_dtype: "bfloat16" },
    });
    const wide = await writeModel(path.join(dir, "wide"), tensors(1), {
      config: { architectures: ["LlamaForCausalLM"], num_hidden_layers: 3, torch_dtype: "bfloat16" },
    });
    for (const [other, message] of [
      [
        mamba,
        `model "${mamba}" (file://${mamba}) is MambaForCausalLM but the base "${base}" (file://${base}) is LlamaForCausalLM: models of different architectures cannot be merged`,
      ],
      [
        wide,
        `model "${wide}" (file://${wide}) has num_hidden_layers 3 but the base "${base}" (file://${base}) has 2: the models do not have the same shape`,
      ],
    ] as const) {
      const out = path.join(dir, `out-${path.basename(other)}`);
      const r = await runBin("merger", "lethe-merge", [config, out, `--models.1.model=${other}`, "--quiet"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`lethe-merge: ${message}\n`);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("checks the output before merging: a file where its parent must go, or a checkpoint already there", async () => {
    const file = path.join(dir, "a-file");
    await fs.writeFile(file, "x");
    const r = await runBin("merger", "lethe-merge", [config, path.join(file, "merged"), "--quiet"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `lethe-merge: ${path.join(file, "merged")}: cannot create its parent directory: ${file} is a file, not a directory\n`,
    );
    // Before the models are even opened: the model path here does not exist.
    const taken = await runBin("merger", "lethe-merge", [
      config,
      base,
      "--models.1.model=/nowhere",
      "--quiet",
    ]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe(`lethe-merge: ${base}: already holds a checkpoint\n`);
  });

  it("--help lists every option the README documents", async () => {
    const readme = await fs.readFile(path.join(__dirname, "..", "README.md"), "utf8");
    const options = /Options: ([\s\S]*?)\.\n/.exec(readme)![1]!.match(/--[a-z][a-z0-9-]*/g)!;
    expect(options.length).toBeGreaterThan(10);
    const help = await runBin("merger", "lethe-merge", ["--help"]);
    expect(help.code).toBe(0);
    for (const flag of options) expect(help.stdout, flag).toContain(flag);
  });

  it("reads shard sizes with mergekit's k/M/B suffixes", () => {
    expect(parseSize("5B")).toBe(5e9);
    expect(parseSize("500M")).toBe(5e8);
    expect(parseSize("1.5k")).toBe(1500);
    expect(parseSize("1024")).toBe(1024);
    expect(() => parseSize("5GB")).toThrow(
      '--out-shard-size: "5GB" is not a size such as 5B, 500M or 1000000',
    );
  });
});
