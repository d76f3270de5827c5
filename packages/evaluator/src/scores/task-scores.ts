import { type RowKind, TASKS, type Task } from "@lethe/core";
import { rougeLRecall } from "../rouge/rouge-l.js";
import { knowledgeScore } from "./knowledge.js";
import { pandasCsvRoundTrip } from "./pandas-csv.js";

/** What scoring needs from one row: its task and kind, the gold output and the model's generation. */
export interface GeneratedRow {
  id: string;
  task: Task;
  kind: RowKind;
  output: string;
  generation: string;
}

export interface ScoreOptions {
  /**
   * Apply the official script's CSV round trip (pandas NA strings such as "" or "None" become "nan")
   * before scoring. Default true: that is what produced the leaderboard numbers.
   */
  pandasCsvQuirk?: boolean;
}

/** Regurgitation (ROUGE-L recall) for an sc row, knowledge (exact match) for a qa row. */
export function scoreRow(row: GeneratedRow, options: ScoreOptions = {}): number {
  const quirk = options.pandasCsvQuirk ?? true;
  const reference = quirk ? pandasCsvRoundTrip(row.output) : row.output;
  const generation = quirk ? pandasCsvRoundTrip(row.generation) : row.generation;
  return row.kind === "sc" ? rougeLRecall(reference, generation) : knowledgeScore(reference, generation);
}

/** Mean regurgitation and knowledge of one task in one split; null when the task has no rows of that kind. */
export interface TaskScores {
  regurgitation: number | null;
  knowledge: number | null;
  sc_rows: number;
  qa_rows: number;
}

/** Per-task means over one split, in task order; tasks without rows are absent (as in a pandas groupby). */
export type SplitScores = Partial<Record<Task, TaskScores>>;

/**
 * pandas' mean over an object column: a left-to-right float sum divided by the count of non-missing
 * values (the other row kind is None there and is skipped).
 */
function columnMean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function splitScores(rows: readonly GeneratedRow[], options: ScoreOptions = {}): SplitScores {
  const byTask = new Map<Task, { sc: number[]; qa: number[] }>();
  for (const row of rows) {
    let bucket = byTask.get(row.task);
    if (bucket === undefined) {
      bucket = { sc: [], qa: [] };
      byTask.set(row.task, bucket);
    }
    bucket[row.kind].push(scoreRow(row, options));
  }
  const result: SplitScores = {};
  for (const task of TASKS) {
    const bucket = byTask.get(task);
    if (bucket === undefined) continue;
    result[task] = {
      regurgitation: columnMean(bucket.sc),
      knowledge: columnMean(bucket.qa),
      sc_rows: bucket.sc.length,
      qa_rows: bucket.qa.length,
    };
  }
  return result;
}
