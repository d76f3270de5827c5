/**
 * Evaluation during training (`eval:` in the config): after every epoch (or every N optimizer steps) the model
 * as it is being trained generates for a fixed, seeded sample of `eval.rows` forget and retain rows, and the
 * evaluator scores them with the official rules (ROUGE-L recall, exact match, the Task Aggregate). With
 * `keep: best`, the run keeps the checkpoint of the best score so far at OUT/best.
 *
 * Only `metric: task_aggregate` is computed here: the final score also needs the MIA documents and MMLU, which
 * a training run does not load (score those with `lethe-eval run` on the checkpoints).
 */
import type { TaskRow } from "@lethe/core";
import { buildReport, generateRows, LetheEvalModel } from "@lethe/evaluator";
import { loadTokenizer } from "@lethe/model";
import type { TrainConfig } from "./config/schema.js";
import { seededShuffle } from "./data/order.js";
import type { TrainContext } from "./train.js";

export interface EvalResult {
  metrics: Record<string, number>;
  /** The configured metric's value (higher is better). */
  value: number;
}

/** Whether an evaluation is due after this optimizer step (`every: N`) or this epoch (`every: epoch`). */
export function evalDue(config: TrainConfig, at: { step?: number; epochEnd?: boolean }): boolean {
  const every = config.eval.every;
  if (every === "none") return false;
  if (every === "epoch") return at.epochEnd === true;
  return at.step !== undefined && at.step % every === 0;
}

export class TrainingEvaluator {
  private constructor(
    private readonly context: TrainContext,
    private readonly forget: TaskRow[],
    private readonly retain: TaskRow[],
    private readonly model: LetheEvalModel,
  ) {}

  static async create(context: TrainContext): Promise<TrainingEvaluator> {
    const { config, rows } = context;
    const sample = (source: TaskRow[], split: string) =>
      seededShuffle(
        source.map((_, i) => i),
        true,
        config.seed,
        `eval/${split}`,
      )
        .slice(0, config.eval.rows)
        .map((i) => source[i]!);
    const tokenizer = await loadTokenizer(config.model);
    const model = LetheEvalModel.fromParts(context.params.policyModel(), tokenizer);
    return new TrainingEvaluator(
      context,
      sample(rows.forget, "forget"),
      sample(rows.retain, "retain"),
      model,
    );
  }

  async evaluate(): Promise<EvalResult> {
    const forget = await generateRows(this.model, this.forget);
    const retain = this.retain.length > 0 ? await generateRows(this.model, this.retain) : [];
    const report = buildReport({ forget, retain });
    const metrics: Record<string, number> = {};
    if (report.task_aggregate !== null) metrics["eval/task_aggregate"] = report.task_aggregate;
    for (const t of report.task_aggregate_terms) {
      if (t.value !== null) metrics[`eval/${t.split}/${t.task}/${t.metric}`] = t.value;
    }
    const value = metrics[`eval/${this.context.config.eval.metric}`];
    if (value === undefined) throw new Error(`evaluation produced no ${this.context.config.eval.metric}`);
    return { metrics, value };
  }
}
