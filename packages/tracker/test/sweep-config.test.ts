// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FormatError } from "@lethe/core";
import { describe, expect, it } from "vitest";
import { loadSweepConfig, parseSweepConfigYaml, validateSweepConfig } from "../src/sweep/config.js";
import { flattenParameters } from "../src/sweep/parameters.js";

const HEAD = "method: random\nprogram: train.js\n";

function parseError(yaml: string): string {
  try {
    parseSweepConfigYaml(yaml, "s.yml");
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return (err as Error).message;
  }
  throw new Error("expected the config to be rejected");
}

describe("sweep config (W&B schema)", () => {
  it("reads the example of W&B's documentation, filling defaults like the W&B client", () => {
    const config = parseSweepConfigYaml(
      `program: train.js
method: bayes
metric: {name: val_loss, goal: minimize, target: 0.1}
run_cap: 20
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-5, max: 1.0e-2}
  bs: {values: [16, 32, 64]}
  depth: {min: 2, max: 8}
  dropout: {min: 0.0, max: 0.5}
  wd: {value: 0.0}
  opt: {parameters: {beta1: {values: [0.9, 0.95]}}}
  noise: {distribution: q_normal}
  mix: {values: [a, b], probabilities: [0.25, 0.75]}
early_terminate: {type: hyperband, min_iter: 3}
`,
      "s.yml",
    );
    expect(config.metric).toEqual({
      name: "val_loss",
      goal: "minimize",
      target: 0.1,
      impute: "worst",
      impute_while_running: "false",
    });
    expect(config.early_terminate).toEqual({ type: "hyperband", min_iter: 3, eta: 3, strict: true });
    expect(config.parameters.bs).toEqual({ distribution: "categorical", values: [16, 32, 64] });
    // Integers in YAML → int_uniform; `0.0` is a float in YAML → uniform, as Python's loader reads it.
    expect(config.parameters.depth).toEqual({ distribution: "int_uniform", min: 2, max: 8 });
    expect(config.parameters.dropout).toEqual({ distribution: "uniform", min: 0, max: 0.5 });
    expect(config.parameters.wd).toEqual({ distribution: "constant", value: 0 });
    expect(config.parameters.noise).toEqual({ distribution: "q_normal", mu: 0, sigma: 1, q: 1 });
    expect(config.parameters.mix).toEqual({
      distribution: "categorical_w_probabilities",
      values: ["a", "b"],
      probabilities: [0.25, 0.75],
    });
    expect(flattenParameters(config.parameters).map((p) => p.name)).toEqual([
      "bs",
      "depth",
      "dropout",
      "lr",
      "mix",
      "noise",
      "opt.beta1",
      "wd",
    ]);
  });

  it("treats every integral number as an integer in a config given as an object (JSON)", () => {
    const config = validateSweepConfig({
      method: "grid",
      program: "t.js",
      parameters: { n: { min: 1, max: 3 } },
    });
    expect(config.parameters.n).toEqual({ distribution: "int_uniform", min: 1, max: 3 });
  });

  it("flattens nested groups and dotted names to the flags the merger CLI takes", () => {
    const config = parseSweepConfigYaml(
      `${HEAD}parameters:
  optimizer:
    parameters:
      adam: {parameters: {beta1: {values: [0.9, 0.95]}}}
      lr: {value: 0.001}
  models.1.parameters.density: {values: [0.4, 0.6]}
`,
    );
    expect(flattenParameters(config.parameters).map((p) => p.name)).toEqual([
      "models.1.parameters.density",
      "optimizer.adam.beta1",
      "optimizer.lr",
    ]);
    // W&B's schema wants names to start with a letter or "_", so a list index can only appear inside a
    // dotted name, never as a nested key.
    expect(parseError(`${HEAD}parameters:\n  models: {parameters: {"1": {value: 0.5}}}`)).toBe(
      "s.yml: parameters.models.parameters.1: a parameter name must match ^[A-Za-z_][A-Za-z0-9_.-]*$",
    );
  });

  it("names the file and the field in every error", () => {
    expect(parseError(`${HEAD}parameters:\n  lr: {distribution: log_uniform_values, min: 0, max: 1}`)).toBe(
      "s.yml: parameters.lr.min: must be > 0 (it is a value, not an exponent)",
    );
    expect(parseError(`${HEAD}parameters:\n  lr: {distribution: lognormal}`)).toBe(
      's.yml: parameters.lr: unknown distribution "lognormal"',
    );
    expect(parseError(`${HEAD}parameters:\n  lr: {min: 1, max: 2, q: 3}`)).toBe(
      's.yml: parameters.lr: unknown key(s) "q"',
    );
    expect(parseError(`${HEAD}parameters:\n  lr: {foo: 1}`)).toBe(
      "s.yml: parameters.lr: give `value`, `values`, `min`/`max`, `distribution` or nested `parameters`",
    );
    expect(parseError(`${HEAD}parameters:\n  x: {min: 2, max: 1}`)).toBe(
      "s.yml: parameters.x: min 2 is not less than max 1",
    );
    expect(parseError(`${HEAD}parameters:\n  x: {values: [1, 2], probabilities: [0.5, 0.6]}`)).toBe(
      "s.yml: parameters.x: probabilities sum to 1.1, not 1",
    );
    expect(parseError(`${HEAD}parameters:\n  "1x": {value: 2}`)).toBe(
      "s.yml: parameters.1x: a parameter name must match ^[A-Za-z_][A-Za-z0-9_.-]*$",
    );
    expect(parseError(`${HEAD}parameters:\n  o: {parameters: {b: {values: []}}}`)).toMatch(
      /^s\.yml: parameters\.o\.parameters\.b\.values: /,
    );
    expect(
      parseError(
        `${HEAD}early_terminate: {type: hyperband, eta: 3}\nmetric: {name: l}\nparameters:\n  x: {value: 1}`,
      ),
    ).toBe("s.yml: early_terminate: hyperband needs either min_iter, or max_iter together with s");
    expect(parseError(`method: bayes\nprogram: t.js\nparameters:\n  x: {min: 0.0, max: 1.0}`)).toBe(
      "s.yml: metric: bayes search needs a metric to optimise",
    );
    expect(parseError(`method: random\ncommand: [node, "\${program}"]\nparameters:\n  x: {value: 1}`)).toBe(
      "s.yml: command[1]: ${program} is used but the config has no `program`",
    );
    expect(parseError(`method: random\ncommand: [node, "\${argz}"]\nparameters:\n  x: {value: 1}`)).toMatch(
      /^s\.yml: command\[1\]: unknown macro \$\{argz\}; known: /,
    );
    expect(parseError(`method: custom\nprogram: t.js\nparameters:\n  x: {value: 1}`)).toMatch(
      /^s\.yml: method: custom/,
    );
    expect(parseError("method: grid\nprogram: t.js\nparameters: [1]")).toMatch(/^s\.yml: parameters: /);
    expect(parseError("method: [")).toMatch(/^s\.yml: not valid YAML: /);
    expect(
      parseError("method: grid\nprogram: t.js\nparameters:\n  x: {distribution: uniform, min: 0, max: 1}"),
    ).toBe(
      "s.yml: parameters.x: grid search cannot enumerate a uniform distribution; grid search needs categorical, constant, int_uniform or q_uniform parameters",
    );
  });

  it("loads a file and names it in errors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lethe-sweep-config-"));
    const file = join(dir, "bad.yml");
    writeFileSync(
      file,
      "method: grid\nprogram: t.js\nparameters:\n  x: {distribution: uniform, min: 0, max: 1}\n  y: {value: 1, extra: 2}\n",
    );
    await expect(loadSweepConfig(file)).rejects.toThrow(`${file}: parameters.y: unknown key(s) "extra"`);
  });

  it("accepts every example sweep file, with the parameters the TIES and RMU stages take", async () => {
    const dir = resolve(__dirname, "../../../examples/sweeps");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yml") && !f.startsWith("ties-zju"));
    const names: Record<string, string[]> = {};
    for (const file of files) {
      const config = await loadSweepConfig(join(dir, file));
      names[file] = flattenParameters(config.parameters)
        .filter((p) => p.spec.distribution !== "constant")
        .map((p) => p.name);
    }
    expect(names).toEqual({
      "adaptive-rmu-beta-layer.yml": ["layer", "loss.rmu.alpha", "loss.rmu.beta"],
      "quadratic.yml": ["x", "y"],
      "rmu-alpha-steering-layer.yml": ["layer", "loss.rmu.alpha", "loss.rmu.steering_coeff"],
      "ties-density-grid.yml": ["models.1.parameters.density", "models.1.parameters.weight"],
      "ties-density-weight.yml": [
        "models.1.parameters.density",
        "models.1.parameters.weight",
        "models.2.parameters.density",
        "models.2.parameters.weight",
      ],
    });
  });
});
