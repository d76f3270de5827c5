/**
 * Step counts and the learning-rate schedule, as Hugging Face computes them for ZJU (§1.4 of
 * docs/unlearning.md): one epoch of optimizer steps is max(1, ⌊N/(batch·accum)⌋), the run is
 * ⌊epochs·N/(batch·accum)⌋ steps, and `warmup_steps: auto` is one epoch.
 */

/** Optimizer steps in one epoch of `examples` micro-batch rows. */
export function stepsPerEpoch(examples: number, batchSize: number, gradAccum: number): number {
  return Math.max(1, Math.floor(examples / (batchSize * gradAccum)));
}

/** Optimizer steps in the whole run, capped by `maxSteps` when it is set. */
export function totalSteps(
  examples: number,
  batchSize: number,
  gradAccum: number,
  epochs: number,
  maxSteps: number | null = null,
): number {
  const run = Math.max(1, Math.floor((epochs * examples) / (batchSize * gradAccum)));
  return maxSteps === null ? run : Math.min(run, maxSteps);
}

/** `warmup_steps: auto` is one epoch of optimizer steps. */
export function resolveWarmupSteps(warmup: "auto" | number, oneEpoch: number): number {
  return warmup === "auto" ? oneEpoch : warmup;
}

export interface LrSchedule {
  kind: "linear" | "constant" | "cosine";
  /** The configured `optim.lr`. */
  peak: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * The learning rate of optimizer step `step` (0-based: the lr the `step`-th update uses), as transformers'
 * `get_{linear,constant,cosine}_schedule_with_warmup`: a linear ramp from 0 over the warmup (so the very
 * first update has lr 0 when there is warmup, as in HF), then linear decay to 0 at `totalSteps`, a constant,
 * or a half cosine to 0.
 */
export function learningRate(step: number, s: LrSchedule): number {
  if (step < s.warmupSteps) return (s.peak * step) / Math.max(1, s.warmupSteps);
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = (step - s.warmupSteps) / decaySteps;
  switch (s.kind) {
    case "constant":
      return s.peak;
    case "linear":
      return s.peak * Math.max(0, (s.totalSteps - step) / decaySteps);
    case "cosine":
      return s.peak * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
  }
}

/**
 * The schedule of a config for an epoch of `examples` micro-batch rows (ZJU: |forget|), with
 * `warmup_steps: auto` resolved and `max_steps` applied.
 */
export function lrScheduleFor(
  config: {
    optim: { lr: number; warmup_steps: "auto" | number; schedule: LrSchedule["kind"] };
    batch_size: number;
    grad_accum: number;
    epochs: number;
    max_steps: number | null;
  },
  examples: number,
): LrSchedule {
  const oneEpoch = stepsPerEpoch(examples, config.batch_size, config.grad_accum);
  return {
    kind: config.optim.schedule,
    peak: config.optim.lr,
    warmupSteps: resolveWarmupSteps(config.optim.warmup_steps, oneEpoch),
    totalSteps: totalSteps(examples, config.batch_size, config.grad_accum, config.epochs, config.max_steps),
  };
}
