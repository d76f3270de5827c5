/**
 * A training run, step by step: load the model, tokenizer and data; choose the trainable parameters; then for
 * each epoch plan its micro-batches (ZJU pairing, or RMU topics), and for each optimizer step accumulate
 * grad_accum micro-batches, clip, and apply AdamW at the scheduled learning rate; log every step; checkpoint
 * every epoch and at the end; stop at max_steps or the time budget.
 */
import { type TaskRow, UsageError } from "@lethe/core";
import { loadModel, loadTokenizer, type Model, type SessionOptions } from "@lethe/model";
import { durationSeconds } from "./config/duration.js";
import { type LrSchedule, learningRate, lrScheduleFor } from "./config/schedule.js";
import type { TrainConfig } from "./config/schema.js";
import { buildBatch } from "./data/batch.js";
import { pairedEpoch } from "./data/pairing.js";
import { loadTrainingRows, retainNeed, type TrainingRows } from "./data/rows.js";
import { fromLetheTokenizer, type TextTokenizer } from "./data/tokenizer.js";
import { topicEpoch } from "./data/topics.js";
import { type MicroBatch, Objective, type StepTerms } from "./objective.js";
import { AdamW, clipScale, globalGradNorm } from "./optim/adamw.js";
import { ParameterSet, type TrainableSpec } from "./params.js";
import { TrainingStep } from "./step.js";

/** One micro-batch as row indices (and its topic, for the RMU family). */
interface PlannedMicroBatch {
  forget: number[];
  retain: number[];
  topic?: string;
}

export interface StepRecord {
  step: number;
  epoch: number;
  loss: number;
  terms: Record<string, number>;
  gradNorm: number;
  lr: number;
  tokensPerSecond: number;
  rmu?: StepTerms["rmu"];
}

export interface TrainHooks {
  /** After every optimizer step. */
  onStep?: (record: StepRecord, progress: { step: number; total: number }) => void | Promise<void>;
  /** At the end of every epoch (and, with `final`, of the run): write a checkpoint, evaluate. */
  onEpochEnd?: (epoch: number, context: TrainContext, final: boolean) => void | Promise<void>;
}

export interface TrainContext {
  config: TrainConfig;
  model: Model;
  tokenizer: TextTokenizer;
  rows: TrainingRows;
  params: ParameterSet;
  objective: Objective;
  optimizer: AdamW;
  schedule: LrSchedule;
  /** Optimizer steps taken so far. */
  step: number;
}

export interface TrainResult {
  steps: number;
  epochs: number;
  seconds: number;
  stoppedBy: "epochs" | "max_steps" | "time_budget";
  history: StepRecord[];
}

export interface TrainOptions {
  session?: SessionOptions;
  hooks?: TrainHooks;
  /** Start from here (resume): epochs already done and optimizer steps taken. */
  start?: { epoch: number; step: number };
}

/** Everything a run needs, loaded and checked before the first step. */
export async function prepareTraining(
  config: TrainConfig,
  options: TrainOptions = {},
): Promise<TrainContext> {
  const session = options.session ?? {};
  const model = await loadModel(config.model, {
    ...session,
    ...(config.adapter ? { adapter: config.adapter } : {}),
  });
  const tokenizer = fromLetheTokenizer(await loadTokenizer(config.model));
  const need = retainNeed(config.loss);
  const rows = await loadTrainingRows(config.data, need === undefined ? {} : { retainRequiredBy: need });
  const params = new ParameterSet(model, trainableSpec(config));
  const engine = new TrainingStep(model, params);
  const objective = new Objective(engine, config.loss, config.seed);
  const optimizer = new AdamW(params.params, {
    betas: config.optim.betas,
    eps: config.optim.eps,
    weightDecay: config.optim.weight_decay,
  });
  const schedule = lrScheduleFor(config, examplesPerEpoch(config, rows));
  return { config, model, tokenizer, rows, params, objective, optimizer, schedule, step: 0 };
}

export function trainableSpec(config: TrainConfig): TrainableSpec {
  const p = config.params;
  if (p.mode === "full") return { select: /.*/ };
  if (p.mode === "select") return { select: new RegExp(p.select) };
  return {
    lora: {
      r: p.lora.r,
      alpha: p.lora.alpha,
      targetModules: p.lora.target_modules,
      seed: config.seed,
      dropout: p.lora.dropout,
    },
  };
}

const isRepresentation = (config: TrainConfig) =>
  config.loss.forget === "rmu" || config.loss.forget === "adaptive_rmu";

/** Micro-batches of forget rows per epoch: ZJU's epoch is |forget|; the RMU schedule is per topic. */
function examplesPerEpoch(config: TrainConfig, rows: TrainingRows): number {
  return planEpoch(config, rows, 0).length * config.batch_size;
}

function planEpoch(config: TrainConfig, rows: TrainingRows, epoch: number): PlannedMicroBatch[] {
  const o = { batchSize: config.batch_size, shuffle: config.data.shuffle, seed: config.seed, epoch };
  if (isRepresentation(config)) {
    return topicEpoch(rows.forget, rows.retain, o).map((s) => ({
      forget: s.forget,
      retain: s.retain,
      topic: s.forgetTask,
    }));
  }
  return pairedEpoch(rows.forget.length, rows.retain.length, o);
}

export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const context = await prepareTraining(config, options);
  return runTraining(context, options);
}

/** The epoch loop over a prepared context. */
export async function runTraining(context: TrainContext, options: TrainOptions = {}): Promise<TrainResult> {
  const { config } = context;
  const started = performance.now();
  const budget = config.time_budget === null ? null : durationSeconds(config.time_budget);
  const history: StepRecord[] = [];
  const total = context.schedule.totalSteps;
  context.step = options.start?.step ?? 0;
  let stoppedBy: TrainResult["stoppedBy"] = "epochs";
  let epoch = options.start?.epoch ?? 0;
  for (; epoch < config.epochs && stoppedBy === "epochs"; epoch++) {
    context.objective.startEpoch();
    const steps = optimizerSteps(planEpoch(config, context.rows, epoch), config.grad_accum);
    for (const microBatches of steps) {
      if (context.step >= total) {
        stoppedBy = "max_steps";
        break;
      }
      const record = await optimizerStep(context, microBatches, epoch);
      history.push(record);
      await options.hooks?.onStep?.(record, { step: context.step, total });
      if (budget !== null && (performance.now() - started) / 1000 >= budget) {
        stoppedBy = "time_budget";
        break;
      }
    }
    const last = stoppedBy !== "epochs" || epoch + 1 === config.epochs;
    await options.hooks?.onEpochEnd?.(epoch, context, last);
  }
  return {
    steps: context.step,
    epochs: epoch,
    seconds: (performance.now() - started) / 1000,
    stoppedBy,
    history,
  };
}

/** Group an epoch's micro-batches into optimizer steps; a remainder smaller than grad_accum is dropped, as HF. */
function optimizerSteps(plan: PlannedMicroBatch[], gradAccum: number): PlannedMicroBatch[][] {
  const out: PlannedMicroBatch[][] = [];
  for (let i = 0; i + gradAccum <= plan.length; i += gradAccum) out.push(plan.slice(i, i + gradAccum));
  return out;
}

/** Accumulate the micro-batches' gradients, clip, update. */
export async function optimizerStep(
  context: TrainContext,
  microBatches: PlannedMicroBatch[],
  epoch: number,
): Promise<StepRecord> {
  const { config, params, objective, optimizer } = context;
  const t0 = performance.now();
  params.zeroGrads();
  const terms: Record<string, number> = {};
  let loss = 0;
  let tokens = 0;
  let rmu: StepTerms["rmu"];
  for (const planned of microBatches) {
    const mb = materialise(context, planned);
    tokens +=
      (mb.forget?.batch ?? 0) * (mb.forget?.seq ?? 0) + (mb.retain?.batch ?? 0) * (mb.retain?.seq ?? 0);
    const out = await objective.accumulate(mb, 1 / microBatches.length);
    loss += out.loss / microBatches.length;
    for (const [k, v] of Object.entries(out.terms)) terms[k] = (terms[k] ?? 0) + v / microBatches.length;
    rmu = out.rmu ?? rmu;
  }
  const gradNorm = globalGradNorm(params.params);
  const lr = learningRate(context.step, context.schedule);
  optimizer.step(lr, clipScale(gradNorm, config.optim.grad_clip));
  context.step++;
  const seconds = (performance.now() - t0) / 1000;
  return {
    step: context.step,
    epoch,
    loss,
    terms,
    gradNorm,
    lr,
    tokensPerSecond: tokens / seconds,
    ...(rmu ? { rmu } : {}),
  };
}

/** Row indices → tokenised, padded batches. */
export function materialise(context: TrainContext, planned: PlannedMicroBatch): MicroBatch {
  const { config, rows, tokenizer, objective } = context;
  const pick = (source: TaskRow[], indices: number[]) => indices.map((i) => source[i]!);
  const forget =
    planned.forget.length > 0 ? buildBatch(pick(rows.forget, planned.forget), tokenizer, config.data) : null;
  const retain =
    objective.usesRetain && planned.retain.length > 0
      ? buildBatch(pick(rows.retain, planned.retain), tokenizer, config.data)
      : null;
  if (objective.usesRetain && !retain)
    throw new UsageError("the loss needs retain rows and the data has none");
  return { forget, retain, ...(planned.topic ? { topic: planned.topic } : {}) };
}
