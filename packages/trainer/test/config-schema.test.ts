/** Validation of the training config: defaults, and a message naming the field and the allowed values for every mistake. */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/config/errors.js";
import { printConfig } from "../src/config/print.js";
import { parseConfigText, resolveDraftConfig, resolveTrainConfig } from "../src/config/resolve.js";

const MINIMAL = { model: "base", out: "runs/x", data: { forget: "data/forget.jsonl" } };

/** The message of the ConfigError that `document` (merged onto the minimal config) raises. */
function errorOf(document: Record<string, unknown>): string {
  const merged = { ...MINIMAL, ...document };
  try {
    resolveTrainConfig(merged, { source: "train.yml" });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`no error for ${JSON.stringify(document)}`);
}

describe("defaults", () => {
  it("are the issue's example values", () => {
    const c = resolveTrainConfig(MINIMAL);
    expect(c.data).toEqual({
      forget: "data/forget.jsonl",
      retain: null,
      format: "prompt_target",
      max_len: 256,
      prompt_fraction: 0.8,
      task_max_len: {},
      shuffle: true,
    });
    expect(c.params.mode).toBe("lora");
    expect(c.params.lora).toEqual({
      r: 32,
      alpha: 32,
      dropout: 0.05,
      target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    });
    expect(c.params.select).toBe("model\\.layers\\.(5|6|7)\\.mlp\\.down_proj\\.weight");
    expect(c.loss).toEqual({
      forget: "npo",
      forget_weight: 1,
      npo: { beta: 0.1, reduction: "batch_mean_token" },
      simnpo: { beta: 4.5, delta: 0 },
      retain_kl: 0,
      kl_positions: "all",
      retain_nll: 0,
      rmu: { layer: 7, steering_coeff: 20, alpha: 100, beta: 5, coeff: "once", mse: "all" },
    });
    expect(c.optim).toEqual({
      lr: 1e-4,
      weight_decay: 0.01,
      betas: [0.9, 0.999],
      eps: 1e-8,
      warmup_steps: "auto",
      schedule: "linear",
      grad_clip: 1,
    });
    expect([c.batch_size, c.grad_accum, c.epochs, c.seed]).toEqual([1, 4, 5, 42]);
    expect(c.eval).toEqual({ every: "none", rows: 64, keep: "last", metric: "task_aggregate" });
    expect([c.time_budget, c.log_every, c.max_steps, c.preset]).toEqual([null, 10, null, null]);
  });

  it("reads the issue's YAML (1e-4 is a number, the select regex survives)", () => {
    const doc = parseConfigText(
      [
        "model: s3://bucket/base",
        "out: runs/a",
        "data: {forget: d/forget.parquet, retain: d/retain.parquet, task_max_len: {Task1: 256, Task2: 105}}",
        "params: {mode: select, select: 'model\\.layers\\.(5|6|7)\\.mlp\\.down_proj\\.weight'}",
        "optim: {lr: 1e-4, weight_decay: 0.01, betas: [0.9, 0.999], eps: 1e-8, warmup_steps: auto, schedule: linear, grad_clip: 1.0}",
        "time_budget: 1h",
      ].join("\n"),
      "train.yml",
    );
    const c = resolveTrainConfig(doc);
    expect(c.optim.lr).toBe(1e-4);
    expect(c.optim.eps).toBe(1e-8);
    expect(c.data.task_max_len).toEqual({ Task1: 256, Task2: 105 });
    expect(new RegExp(c.params.select).test("model.layers.6.mlp.down_proj.weight")).toBe(true);
    expect(new RegExp(c.params.select).test("model.layers.8.mlp.down_proj.weight")).toBe(false);
    expect(c.time_budget).toBe("1h");
  });
});

describe("bad values name the field and what is allowed", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "forget loss",
      { loss: { forget: "npx" } },
      'train.yml: loss.forget: must be one of npo, ga, simnpo, rmu, adaptive_rmu, sft, none, got "npx"',
    ],
    [
      "data format",
      { data: { forget: "f", format: "chat" } },
      'train.yml: data.format: must be one of prompt_target, text, got "chat"',
    ],
    [
      "params mode",
      { params: { mode: "qlora" } },
      'params.mode: must be one of lora, full, select, got "qlora"',
    ],
    [
      "npo reduction",
      { loss: { npo: { reduction: "mean" } } },
      'loss.npo.reduction: must be one of batch_mean_token, sequence_sum, got "mean"',
    ],
    [
      "kl positions",
      { loss: { kl_positions: "some" } },
      'loss.kl_positions: must be one of all, attended, got "some"',
    ],
    [
      "rmu coeff",
      { loss: { rmu: { coeff: "twice" } } },
      'loss.rmu.coeff: must be one of once, per_epoch, got "twice"',
    ],
    [
      "rmu mse",
      { loss: { rmu: { mse: "masked" } } },
      'loss.rmu.mse: must be one of all, attended, got "masked"',
    ],
    [
      "schedule",
      { optim: { schedule: "step" } },
      'optim.schedule: must be one of linear, constant, cosine, got "step"',
    ],
    ["eval keep", { eval: { keep: "first" } }, 'eval.keep: must be one of best, last, got "first"'],
    [
      "eval metric",
      { eval: { metric: "rouge" } },
      'eval.metric: must be one of final, task_aggregate, mia_score, mmlu, got "rouge"',
    ],
    [
      "eval every",
      { eval: { every: "step" } },
      'eval.every: must be epoch, none or a number of optimizer steps (≥ 1), got "step"',
    ],
    ["unknown preset", { preset: "zju" }, 'preset: unknown preset "zju"'],
    ["negative lr", { optim: { lr: -1 } }, "optim.lr: must be > 0, got -1"],
    ["zero lr", { optim: { lr: 0 } }, "optim.lr: must be > 0, got 0"],
    ["string lr", { optim: { lr: "fast" } }, 'optim.lr: must be a number, got "fast"'],
    ["beta ≥ 1", { optim: { betas: [0.9, 1] } }, "optim.betas.1: must be < 1, got 1"],
    ["one beta", { optim: { betas: [0.9] } }, "optim.betas: must have at least 2 entries"],
    [
      "warmup",
      { optim: { warmup_steps: "one epoch" } },
      'optim.warmup_steps: must be auto (one epoch of optimizer steps) or a non-negative integer, got "one epoch"',
    ],
    ["fractional batch", { batch_size: 1.5 }, "batch_size: must be an integer, got 1.5"],
    ["zero accumulation", { grad_accum: 0 }, "grad_accum: must be ≥ 1, got 0"],
    [
      "prompt fraction",
      { data: { forget: "f", prompt_fraction: 1.2 } },
      "data.prompt_fraction: must be ≤ 1, got 1.2",
    ],
    ["dropout", { params: { lora: { dropout: 1 } } }, "params.lora.dropout: must be < 1, got 1"],
    ["lora rank", { params: { lora: { r: 0 } } }, "params.lora.r: must be ≥ 1, got 0"],
    [
      "task cap",
      { data: { forget: "f", task_max_len: { Task2: 0 } } },
      "data.task_max_len.Task2: must be ≥ 1, got 0",
    ],
    [
      "regex",
      { params: { select: "layers.(5" } },
      'params.select: must be a valid regular expression, got "layers.(5"',
    ],
    [
      "time budget",
      { time_budget: "an hour" },
      'time_budget: must be a duration such as 1h, 30m, 90s or 1h30m (or a number of seconds), got "an hour"',
    ],
    ["shuffle", { data: { forget: "f", shuffle: "yes" } }, 'data.shuffle: must be true or false, got "yes"'],
    ["model type", { model: 7 }, "model: must be a string, got 7"],
    ["empty out", { out: "" }, 'out: must not be empty, got ""'],
    ["section type", { loss: "npo" }, 'loss: must be a mapping, got "npo"'],
    [
      "keep best without evaluations",
      { eval: { keep: "best" } },
      "eval.keep: best needs evaluations: set eval.every to epoch or a number of steps (it is none)",
    ],
  ];
  it.each(cases)("%s", (_name, document, message) => {
    expect(errorOf(document)).toContain(message);
  });

  it("reports a missing required field", () => {
    expect(() => resolveTrainConfig({ model: "m", data: { forget: "f" } }, { source: "t.yml" })).toThrow(
      "t.yml: out: is required",
    );
    expect(() => resolveTrainConfig({ model: "m", out: "o" }, { source: "t.yml" })).toThrow(
      "t.yml: data: is required",
    );
  });

  it("reports every problem, one per line", () => {
    const lines = errorOf({ loss: { forget: "npx" }, optim: { lr: 0 }, seed: -1 }).split("\n");
    expect(lines).toHaveLength(3);
    expect(lines.every((line) => line.startsWith("train.yml: "))).toBe(true);
  });
});

describe("unknown keys are errors", () => {
  it("names the key, the nearest allowed one and the allowed keys", () => {
    expect(errorOf({ data: { forget: "f", shufle: false } })).toBe(
      'train.yml: data.shufle: unknown key; did you mean "shuffle"? ' +
        "(allowed: forget, retain, format, max_len, prompt_fraction, task_max_len, shuffle)",
    );
  });

  it("at the top level, in nested sections and in task caps", () => {
    expect(errorOf({ learning_rate: 1 })).toContain(
      "train.yml: learning_rate: unknown key (allowed: preset, model,",
    );
    expect(errorOf({ loss: { npo: { bta: 0.2 } } })).toContain(
      'loss.npo.bta: unknown key; did you mean "beta"? (allowed: beta, reduction)',
    );
    expect(errorOf({ data: { forget: "f", task_max_len: { Task4: 10 } } })).toContain(
      "data.task_max_len.Task4: unknown key",
    );
    expect(errorOf({ data: { forget: "f", task_max_len: { Task4: 10 } } })).toContain(
      "(allowed: Task1, Task2, Task3)",
    );
  });

  it("a far-off key gets no suggestion", () => {
    expect(errorOf({ optim: { momentum: 0.9 } })).not.toContain("did you mean");
  });
});

describe("drafts and printing", () => {
  it("a preset alone resolves as a draft, not as a runnable config", () => {
    expect(() => resolveTrainConfig({}, { preset: "zju-over" })).toThrow("model: is required");
    const draft = resolveDraftConfig({}, { preset: "zju-over" });
    expect(draft.model).toBeUndefined();
    expect(draft.loss.forget_weight).toBe(0.4);
  });

  it("printing and reading back gives the same config", () => {
    const config = resolveTrainConfig(
      { ...MINIMAL, data: { ...MINIMAL.data, task_max_len: { Task3: 335 } }, time_budget: "30m" },
      { preset: "adaptive-rmu-7b" },
    );
    const text = printConfig(config);
    expect(text.split("\n")[0]).toBe("preset: adaptive-rmu-7b");
    expect(resolveTrainConfig(parseConfigText(text, "printed.yml"))).toEqual(config);
  });

  it("a draft prints the fields still to fill as null, in schema order", () => {
    const text = printConfig(resolveDraftConfig({}, { preset: "sft" }));
    const lines = text.split("\n");
    expect(lines.slice(0, 7)).toEqual([
      "preset: sft",
      "model: null",
      "adapter: null",
      "reference: null",
      "out: null",
      "data:",
      "  forget: null",
    ]);
  });

  it("a config file that is not a mapping is refused", () => {
    expect(() => parseConfigText("- a\n- b\n", "list.yml")).toThrow(
      "list.yml: a training config must be a YAML mapping",
    );
    expect(() => parseConfigText("a: [1,\n", "bad.yml")).toThrow("bad.yml: not valid YAML");
    expect(parseConfigText("", "empty.yml")).toEqual({});
  });
});

describe("fields training cannot honour yet are refused, not ignored", () => {
  it("eval.metric other than task_aggregate with evaluations on, and reference", () => {
    const base = { model: "m", out: "o", data: { forget: "f" } };
    expect(() => resolveTrainConfig({ ...base, eval: { every: "epoch", metric: "final" } })).toThrow(
      /eval\.metric: final needs MIA documents and MMLU, which evaluation during training does not load/,
    );
    expect(() => resolveTrainConfig({ ...base, reference: "some/other/model" })).toThrow(
      /reference: a separate reference checkpoint is not supported yet/,
    );
    expect(resolveTrainConfig({ ...base, eval: { every: "epoch", keep: "best" } }).eval.metric).toBe(
      "task_aggregate",
    );
  });
});
