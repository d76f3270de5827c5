/**
 * The `lethe-train` config as a zod schema; the schema is the type (`TrainConfig`). YAML keys are the ones
 * issue 11 fixes (other tools and checks rely on them), plus `eval`, `time_budget`, `log_every`, `max_steps`
 * and `preset`. Every object is strict: an unknown key is an error, never silently ignored. Defaults are the
 * issue's example values (the ZJU over-forget model's, §1.4 of docs/unlearning.md).
 */
import { TASKS } from "@lethe/core";
import { z } from "zod";
import { isDuration } from "./duration.js";

export const FORGET_LOSSES = ["npo", "ga", "simnpo", "rmu", "adaptive_rmu", "sft", "none"] as const;
export type ForgetLoss = (typeof FORGET_LOSSES)[number];
export const DATA_FORMATS = ["prompt_target", "text"] as const;
export const PARAM_MODES = ["lora", "full", "select"] as const;
export const NPO_REDUCTIONS = ["batch_mean_token", "sequence_sum"] as const;
export const KL_POSITIONS = ["all", "attended"] as const;
export const RMU_COEFFS = ["once", "per_epoch"] as const;
export const RMU_MSE = ["all", "attended"] as const;
export const SCHEDULES = ["linear", "constant", "cosine"] as const;
export const EVAL_KEEP = ["best", "last"] as const;
export const EVAL_METRICS = ["final", "task_aggregate", "mia_score", "mmlu"] as const;
export const PRESET_NAMES = [
  "sft",
  "zju-over",
  "zju-under",
  "rmu-wmdp",
  "adaptive-rmu-1b",
  "adaptive-rmu-7b",
] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** Every linear layer except lm_head (ZJU's `find_all_linear_names` on OLMo-hf, §1.4). */
export const ALL_LINEAR_MODULES = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
];
/** WMDP RMU's trainable weights: `mlp.down_proj` of layers 5, 6, 7 (§2.1). */
export const WMDP_SELECT = "model\\.layers\\.(5|6|7)\\.mlp\\.down_proj\\.weight";

const finite = () => z.number().refine(Number.isFinite, "must be a finite number");
const positive = () => finite().gt(0);
const nonNegative = () => finite().min(0);
const count = () => z.int().min(1);
const uri = () => z.string().min(1);

const regex = z
  .string()
  .min(1)
  .refine(
    (text) => {
      try {
        new RegExp(text);
        return true;
      } catch {
        return false;
      }
    },
    { error: (issue) => `must be a valid regular expression, got ${JSON.stringify(issue.input)}` },
  );

const durationError = {
  error: (issue: { input?: unknown }) =>
    `must be a duration such as 1h, 30m, 90s or 1h30m (or a number of seconds), got ${JSON.stringify(issue.input)}`,
};
const duration = z.union([z.string().refine(isDuration, durationError), positive()], durationError);

const warmupSteps = z.union([z.literal("auto"), z.int().min(0)], {
  error: (issue) =>
    `must be auto (one epoch of optimizer steps) or a non-negative integer, got ${JSON.stringify(issue.input)}`,
});

const evalEvery = z.union([z.literal("epoch"), z.literal("none"), count()], {
  error: (issue) =>
    `must be epoch, none or a number of optimizer steps (≥ 1), got ${JSON.stringify(issue.input)}`,
});

/** `path` is required (`model`, `out`, `data.forget`) in a runnable config, optional in a draft. */
function buildSchema<P extends z.ZodType<string | undefined>>(path: P) {
  const data = z.strictObject({
    forget: path,
    retain: uri().nullable().default(null),
    format: z.enum(DATA_FORMATS).default("prompt_target"),
    max_len: count().default(256),
    prompt_fraction: finite().gt(0).max(1).default(0.8),
    task_max_len: z.partialRecord(z.enum(TASKS), count()).default({}),
    shuffle: z.boolean().default(true),
  });

  const lora = z.strictObject({
    r: count().default(32),
    alpha: positive().default(32),
    dropout: finite().min(0).lt(1).default(0.05),
    target_modules: z.array(z.string().min(1)).min(1).default(ALL_LINEAR_MODULES),
  });

  const params = z.strictObject({
    mode: z.enum(PARAM_MODES).default("lora"),
    lora: lora.prefault({}),
    select: regex.default(WMDP_SELECT),
  });

  const npo = z.strictObject({
    beta: positive().default(0.1),
    reduction: z.enum(NPO_REDUCTIONS).default("batch_mean_token"),
  });
  const simnpo = z.strictObject({ beta: positive().default(4.5), delta: finite().default(0) });
  const rmu = z.strictObject({
    layer: z.int().min(0).default(7),
    steering_coeff: positive().default(20),
    alpha: nonNegative().default(100),
    beta: positive().default(5),
    coeff: z.enum(RMU_COEFFS).default("once"),
    mse: z.enum(RMU_MSE).default("all"),
  });

  const loss = z.strictObject({
    forget: z.enum(FORGET_LOSSES).default("npo"),
    forget_weight: nonNegative().default(1),
    npo: npo.prefault({}),
    simnpo: simnpo.prefault({}),
    retain_kl: nonNegative().default(0),
    kl_positions: z.enum(KL_POSITIONS).default("all"),
    retain_nll: nonNegative().default(0),
    rmu: rmu.prefault({}),
  });

  const beta = finite().min(0).lt(1);
  const optim = z.strictObject({
    lr: positive().default(1e-4),
    weight_decay: nonNegative().default(0.01),
    betas: z.tuple([beta, beta]).default([0.9, 0.999]),
    eps: positive().default(1e-8),
    warmup_steps: warmupSteps.default("auto"),
    schedule: z.enum(SCHEDULES).default("linear"),
    /** Global gradient-norm clip; null: no clipping. */
    grad_clip: positive().nullable().default(1),
  });

  const evaluation = z.strictObject({
    every: evalEvery.default("none"),
    rows: count().default(64),
    keep: z.enum(EVAL_KEEP).default("last"),
    metric: z.enum(EVAL_METRICS).default("task_aggregate"),
  });

  return z
    .strictObject({
      preset: z.enum(PRESET_NAMES).nullable().default(null),
      model: path,
      adapter: uri().nullable().default(null),
      reference: uri().nullable().default(null),
      out: path,
      data: data,
      params: params.prefault({}),
      loss: loss.prefault({}),
      optim: optim.prefault({}),
      batch_size: count().default(1),
      grad_accum: count().default(4),
      epochs: count().default(5),
      /** Stop after this many optimizer steps (RMU's max_num_batches); null: run every epoch. */
      max_steps: count().nullable().default(null),
      seed: z.int().min(0).default(42),
      eval: evaluation.prefault({}),
      /** Wall-clock limit (the SemEval 1-hour rule); null: none. */
      time_budget: duration.nullable().default(null),
      log_every: count().default(10),
      /** Write OUT/epoch-N after every epoch (resumable); false: only OUT/final (and OUT/best). */
      save_every_epoch: z.boolean().default(true),
    })
    .superRefine((config, ctx) => {
      if (config.eval.keep === "best" && config.eval.every === "none") {
        ctx.addIssue({
          code: "custom",
          path: ["eval", "keep"],
          message: "best needs evaluations: set eval.every to epoch or a number of steps (it is none)",
        });
      }
      if (config.eval.every !== "none" && config.eval.metric !== "task_aggregate") {
        ctx.addIssue({
          code: "custom",
          path: ["eval", "metric"],
          message:
            `${config.eval.metric} needs MIA documents and MMLU, which evaluation during training does not load: ` +
            "use task_aggregate (and lethe-eval run on the saved checkpoints for the rest)",
        });
      }
      if (config.reference !== null) {
        ctx.addIssue({
          code: "custom",
          path: ["reference"],
          message:
            "a separate reference checkpoint is not supported yet; the reference is the starting model " +
            "(for LoRA, the base without the adapter): remove it",
        });
      }
    });
}

export const trainConfigSchema = buildSchema(uri());
/** A config whose `model`, `out` and `data.forget` may be missing (what `--preset NAME --print-config` shows). */
export const draftConfigSchema = buildSchema(uri().optional());

export type TrainConfig = z.output<typeof trainConfigSchema>;
export type DraftTrainConfig = z.output<typeof draftConfigSchema>;
