/**
 * The RMU family's epochs over per-task topics (docs/unlearning.md §2.1, §2.3). Each task present in a split
 * is a topic with its own batches (and, for the forget split, its own random direction u and coefficient).
 *
 * - shuffled (`shuffle: true`, Mr. Snuffleupagus §2.3): the rows of each topic are shuffled and cut into
 *   batches; the schedule lists one task id per batch and is shuffled, separately for forget and retain;
 *   both schedules are truncated to the shorter; step k takes the next batch of forget task a_k and the next
 *   batch of retain task b_k (a_k and b_k independent).
 * - round-robin (`shuffle: false`, WMDP §2.1): file order, topics interleaved (topic k mod n, skipping
 *   topics that ran out), truncated to the shorter schedule the same way.
 */
import { TASKS, type Task, type TaskRow } from "@lethe/core";
import { chunks, seededShuffle } from "./order.js";

export interface TopicStep {
  forgetTask: Task;
  /** Indices into the forget rows, all of `forgetTask`. */
  forget: number[];
  retainTask: Task;
  /** Indices into the retain rows, all of `retainTask`. */
  retain: number[];
}

export interface TopicEpochOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  epoch: number;
}

/** The tasks present in `rows`, in Task1, Task2, Task3 order: topic k is `topicsOf(forget)[k]`. */
export function topicsOf(rows: readonly TaskRow[]): Task[] {
  const present = new Set(rows.map((r) => r.task));
  return TASKS.filter((task) => present.has(task));
}

function batchesByTask(rows: readonly TaskRow[], split: string, o: TopicEpochOptions): Map<Task, number[][]> {
  const out = new Map<Task, number[][]>();
  for (const task of topicsOf(rows)) {
    const indices = rows.flatMap((row, i) => (row.task === task ? [i] : []));
    const ordered = seededShuffle(indices, o.shuffle, o.seed, `${split}/${task}/epoch-${o.epoch}`);
    out.set(task, chunks(ordered, o.batchSize));
  }
  return out;
}

function schedule(batches: Map<Task, number[][]>, split: string, o: TopicEpochOptions): Task[] {
  if (o.shuffle) {
    const ids = [...batches].flatMap(([task, list]) => list.map(() => task));
    return seededShuffle(ids, true, o.seed, `${split}/schedule/epoch-${o.epoch}`);
  }
  const remaining = new Map([...batches].map(([task, list]) => [task, list.length]));
  const ids: Task[] = [];
  while ([...remaining.values()].some((n) => n > 0)) {
    for (const [task, n] of remaining) {
      if (n === 0) continue;
      ids.push(task);
      remaining.set(task, n - 1);
    }
  }
  return ids;
}

export function topicEpoch(
  forgetRows: readonly TaskRow[],
  retainRows: readonly TaskRow[],
  o: TopicEpochOptions,
): TopicStep[] {
  if (forgetRows.length === 0) throw new RangeError("the forget set is empty");
  if (retainRows.length === 0) throw new RangeError("the retain set is empty: the RMU family needs one");
  const forgetBatches = batchesByTask(forgetRows, "forget", o);
  const retainBatches = batchesByTask(retainRows, "retain", o);
  const forgetSchedule = schedule(forgetBatches, "forget", o);
  const retainSchedule = schedule(retainBatches, "retain", o);
  const steps = Math.min(forgetSchedule.length, retainSchedule.length);
  const nextForget = new Map<Task, number>();
  const nextRetain = new Map<Task, number>();
  const take = (batches: Map<Task, number[][]>, next: Map<Task, number>, task: Task): number[] => {
    const k = next.get(task) ?? 0;
    next.set(task, k + 1);
    return batches.get(task)?.[k] as number[];
  };
  return Array.from({ length: steps }, (_, k) => {
    const forgetTask = forgetSchedule[k] as Task;
    const retainTask = retainSchedule[k] as Task;
    return {
      forgetTask,
      forget: take(forgetBatches, nextForget, forgetTask),
      retainTask,
      retain: take(retainBatches, nextRetain, retainTask),
    };
  });
}
