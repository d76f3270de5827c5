import { UsageError } from "@lethe/core";
import {
  type JsonObject,
  progressLogger,
  type Run,
  recordInputs,
  recordOutput,
  type StageCheckpoint,
  startStageRun,
} from "@lethe/tracker";
import { logReport } from "../logging.js";
import type { EvalReport } from "../report.js";

/**
 * An evaluation as a tracker run (LETHE_TRACKER: local by default, wandb, none), opened before the work:
 * progress as history rows while it runs, then the scores as summary values, the aggregate terms and
 * layer-wise numbers as tables, eval.json as an artifact whose parent is the evaluated checkpoint. Inside a
 * sweep trial the run is the trial's own, so the sweep sees `eval/final` and friends as its metric.
 */
export interface StageTracking {
  run: Run;
  progress: (stage: string, done: number, total: number) => void;
  /** Run `work`; if it throws, close the run with the exit status the CLI will give (2 usage, else 1). */
  around<T>(work: () => Promise<T>): Promise<T>;
  finish(report: EvalReport, output: StageCheckpoint, parents: string[]): Promise<void>;
}

export async function trackStage(
  jobType: string,
  config: JsonObject,
  inputs: StageCheckpoint[],
  subject: string,
): Promise<StageTracking> {
  const run = await startStageRun(jobType, config, subject);
  recordInputs(run, inputs);
  return {
    run,
    progress: progressLogger(run),
    async around(work) {
      try {
        return await work();
      } catch (err) {
        if (!run.finished) await run.finish(err instanceof UsageError ? 2 : 1);
        throw err;
      }
    },
    async finish(report, output, parents) {
      await logReport(report, {
        summary: (values) => run.summary(values),
        table: (name, columns, rows) => run.table(name, columns, rows),
      });
      recordOutput(run, output, parents);
      await run.finish(0);
    },
  };
}
