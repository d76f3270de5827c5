/**
 * `lethe-train CONFIG.yml`: a training run recorded by the tracker, with progress, a checkpoint at the end of
 * every epoch (`OUT/epoch-N`, with the optimizer state for `--resume`) and at the end (`OUT/final`).
 */
import { type Run, startRun } from "@lethe/tracker";
import type { TrainConfig } from "../config/schema.js";
import { evalDue, TrainingEvaluator } from "../evaluation.js";
import { resumeFrom, saveCheckpoint, saveWeights } from "../save.js";
import { prepareTraining, runTraining, type StepRecord, type TrainContext } from "../train.js";
import { weightDeltaNorms } from "../weight-deltas.js";
import { StepProgress } from "./progress.js";

export interface RunTrainOptions {
  session: { intraOpNumThreads?: number };
  resume: string | null;
  quiet: boolean;
}

export async function runTrain(config: TrainConfig, options: RunTrainOptions): Promise<number> {
  const run = await startRun({
    project: "lethe",
    job_type: "train",
    name: runName(config),
    config: config as unknown as Record<string, unknown>,
    exitHandlers: true,
  });
  try {
    const context = await prepareTraining(config, { session: options.session });
    const start = options.resume ? await resumeFrom(context, options.resume) : { epoch: 0, step: 0 };
    run.artifact("model", "model", config.model, { role: "input" });
    if (config.adapter) run.artifact("adapter", "model", config.adapter, { role: "input" });
    const progress = new StepProgress(options.quiet, config.log_every);
    const evaluator = config.eval.every === "none" ? null : await TrainingEvaluator.create(context);
    // The best evaluation's weights are kept in memory and written once, at the end: a checkpoint is never
    // overwritten in place.
    const best: { value: number; step: number; values: Float32Array[] | null } = {
      value: Number.NEGATIVE_INFINITY,
      step: 0,
      values: null,
    };
    const maybeEvaluate = async (ctx: TrainContext, at: { step?: number; epochEnd?: boolean }) => {
      if (!evaluator || !evalDue(config, at)) return;
      progress.pause();
      const result = await evaluator.evaluate();
      run.log(result.metrics, { step: ctx.step });
      if (config.eval.keep === "best" && result.value > best.value) {
        Object.assign(best, {
          value: result.value,
          step: ctx.step,
          values: ctx.params.params.map((p) => p.value.slice()),
        });
        run.summary({ best: result.value, best_step: ctx.step });
      }
    };
    const result = await runTraining(context, {
      start,
      hooks: {
        onStep: async (record, p) => {
          run.log(stepMetrics(record), { step: record.step });
          progress.update(record, p.step, p.total);
          await maybeEvaluate(context, { step: record.step });
        },
        onEpochEnd: async (epoch, ctx, final) => {
          progress.pause();
          await maybeEvaluate(ctx, { epochEnd: true });
          await endOfEpoch(run, ctx, epoch, final);
        },
      },
    });
    progress.finish();
    if (best.values) {
      await saveWeights(context, outUri(config, "best"), best.values);
      run.artifact("best", "model", outUri(config, "best"), {
        step: best.step,
        [config.eval.metric]: best.value,
      });
    }
    run.summary({
      steps: result.steps,
      epochs: result.epochs,
      seconds: result.seconds,
      stopped_by: result.stoppedBy,
    });
    process.stderr.write(
      `lethe-train: ${result.steps} steps, ${result.epochs} epochs in ${result.seconds.toFixed(1)} s (${result.stoppedBy}); ` +
        `checkpoint ${outUri(config, "final")}\n`,
    );
    await run.finish(0);
    return 0;
  } catch (err) {
    await run.finish(1);
    throw err;
  }
}

function runName(config: TrainConfig): string {
  const parts = config.out.replace(/\/+$/, "").split("/");
  return parts.at(-1) || "train";
}

/** A checkpoint of the run: OUT/epoch-N, OUT/final, OUT/best. */
const outUri = (config: TrainConfig, name: string) => `${config.out.replace(/\/+$/, "")}/${name}`;

function stepMetrics(r: StepRecord): Record<string, number> {
  const m: Record<string, number> = {
    loss: r.loss,
    grad_norm: r.gradNorm,
    lr: r.lr,
    tokens_per_s: r.tokensPerSecond,
    epoch: r.epoch,
  };
  for (const [k, v] of Object.entries(r.terms)) m[`loss/${k}`] = v;
  if (r.rmu) {
    m["rmu/coeff"] = r.rmu.coeff;
    m["rmu/forget_norm"] = r.rmu.forgetNorm;
    if (r.rmu.retainNorm !== null) m["rmu/retain_norm"] = r.rmu.retainNorm;
  }
  return m;
}

/** Per-layer weight-delta norms to the tracker, then the epoch's checkpoint (and the final one). */
async function endOfEpoch(run: Run, context: TrainContext, epoch: number, final: boolean): Promise<void> {
  const deltas = weightDeltaNorms(context.params);
  const metrics: Record<string, number> = {};
  for (const d of deltas)
    metrics[`delta/layer.${d.layer}`] = (metrics[`delta/layer.${d.layer}`] ?? 0) + d.norm ** 2;
  for (const k of Object.keys(metrics)) metrics[k] = Math.sqrt(metrics[k]!);
  run.log(metrics, { step: context.step });
  run.table(
    "weight_deltas",
    ["epoch", "layer", "module", "norm"],
    deltas.map((d) => [epoch + 1, d.layer, d.module, d.norm]),
  );
  if (context.config.save_every_epoch) {
    const uri = outUri(context.config, `epoch-${epoch + 1}`);
    await saveCheckpoint(context, uri, epoch + 1);
    run.artifact(`epoch-${epoch + 1}`, "model", uri, { epoch: epoch + 1, step: context.step });
  }
  if (final) {
    await saveCheckpoint(context, outUri(context.config, "final"), epoch + 1);
    run.artifact("final", "model", outUri(context.config, "final"), {
      epoch: epoch + 1,
      step: context.step,
      role: "output",
    });
  }
}

/** Restore masters, optimizer moments and progress from a checkpoint of this run. */
