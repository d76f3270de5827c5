/** Epoch construction: ZJU's index pairing (§1.2), per-task topic schedules (§2.1, §2.3), seeded orders. */
import { TASKS, type Task, type TaskRow } from "@lethe/core";
import { describe, expect, it } from "vitest";
import { chunks, seededOrder } from "../src/data/order.js";
import { pairedEpoch } from "../src/data/pairing.js";
import { topicEpoch, topicsOf } from "../src/data/topics.js";

const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function rows(split: TaskRow["split"], tasks: readonly Task[]): TaskRow[] {
  return tasks.map((task, i) => ({ id: `${split}${i}qa0`, input: `q${i}`, output: `a${i}`, task, split }));
}

describe("ZJU pairing (§1.2)", () => {
  it("in order: forget row i with retain row i mod |retain|, partial last batch kept", () => {
    const epoch = pairedEpoch(5, 2, { batchSize: 2, shuffle: false, seed: 42, epoch: 0 });
    expect(epoch).toEqual([
      { forget: [0, 1], retain: [0, 1] },
      { forget: [2, 3], retain: [0, 1] },
      { forget: [4], retain: [0] },
    ]);
  });

  it("the epoch length is |forget| whatever |retain| is", () => {
    const epoch = pairedEpoch(3, 10, { batchSize: 1, shuffle: false, seed: 42, epoch: 0 });
    expect(epoch.flatMap((b) => b.forget)).toEqual([0, 1, 2]);
    expect(epoch.flatMap((b) => b.retain)).toEqual([0, 1, 2]);
  });

  it("shuffling reorders pairs but never re-pairs them; each forget row once per epoch", () => {
    const epoch = pairedEpoch(37, 5, { batchSize: 4, shuffle: true, seed: 7, epoch: 3 });
    const forget = epoch.flatMap((b) => b.forget);
    const retain = epoch.flatMap((b) => b.retain);
    expect(sorted(forget)).toEqual(range(37));
    expect(forget).not.toEqual(range(37));
    expect(retain).toEqual(forget.map((f) => f % 5));
    expect(epoch.map((b) => b.forget.length)).toEqual([...new Array(9).fill(4), 1]);
  });

  it("no retain set: empty retain indices", () => {
    expect(pairedEpoch(2, 0, { batchSize: 2, shuffle: false, seed: 1, epoch: 0 })).toEqual([
      { forget: [0, 1], retain: [] },
    ]);
  });
});

describe("seeded orders", () => {
  it("same seed → same order; another seed, epoch or stream → another order", () => {
    const a = seededOrder(50, true, 42, "pairs/epoch-0");
    expect(seededOrder(50, true, 42, "pairs/epoch-0")).toEqual(a);
    expect(sorted(a)).toEqual(range(50));
    expect(seededOrder(50, true, 43, "pairs/epoch-0")).not.toEqual(a);
    expect(seededOrder(50, true, 42, "pairs/epoch-1")).not.toEqual(a);
    expect(seededOrder(50, true, 42, "forget/Task1/epoch-0")).not.toEqual(a);
  });

  it("the epoch's pairs follow the same rule", () => {
    const options = { batchSize: 3, shuffle: true, seed: 42, epoch: 0 };
    expect(pairedEpoch(40, 7, options)).toEqual(pairedEpoch(40, 7, options));
    expect(pairedEpoch(40, 7, { ...options, seed: 5 })).not.toEqual(pairedEpoch(40, 7, options));
  });

  it("no shuffle is the identity", () => {
    expect(seededOrder(6, false, 42, "x")).toEqual(range(6));
  });

  it("chunks keeps every item, the last chunk shorter", () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(() => chunks([1], 0)).toThrow(RangeError);
  });
});

describe("topics (§2.1, §2.3)", () => {
  // forget: Task1 × 5 (3 batches of 2), Task3 × 2 (1 batch); retain: Task1 × 1, Task2 × 3, Task3 × 4.
  const forget = rows("forget", ["Task3", "Task1", "Task1", "Task3", "Task1", "Task1", "Task1"]);
  const retain = rows("retain", ["Task2", "Task3", "Task3", "Task1", "Task2", "Task3", "Task2", "Task3"]);

  it("topics are the tasks present, in task order", () => {
    expect(topicsOf(forget)).toEqual(["Task1", "Task3"]);
    expect(topicsOf(retain)).toEqual(["Task1", "Task2", "Task3"]);
  });

  it("round-robin in file order (shuffle off), truncated to the shorter schedule", () => {
    const steps = topicEpoch(forget, retain, { batchSize: 2, shuffle: false, seed: 42, epoch: 0 });
    // forget schedule: Task1, Task3, Task1, Task1 (4 batches); retain: Task1, Task2, Task3, Task2, Task3 (5) → 4 steps.
    expect(steps).toEqual([
      { forgetTask: "Task1", forget: [1, 2], retainTask: "Task1", retain: [3] },
      { forgetTask: "Task3", forget: [0, 3], retainTask: "Task2", retain: [0, 4] },
      { forgetTask: "Task1", forget: [4, 5], retainTask: "Task3", retain: [1, 2] },
      { forgetTask: "Task1", forget: [6], retainTask: "Task2", retain: [6] },
    ]);
  });

  it("shuffled: each step's batch is all of one task; the shorter schedule is used whole, the longer cut", () => {
    const options = { batchSize: 2, shuffle: true, seed: 42, epoch: 0 };
    const steps = topicEpoch(forget, retain, options);
    expect(steps).toHaveLength(4);
    for (const step of steps) {
      expect(step.forget.every((i) => forget[i]!.task === step.forgetTask)).toBe(true);
      expect(step.retain.every((i) => retain[i]!.task === step.retainTask)).toBe(true);
    }
    // Forget (4 batches) is the shorter schedule: every forget row appears exactly once.
    expect(sorted(steps.flatMap((s) => s.forget))).toEqual(range(7));
    const perTask = (task: Task) => steps.filter((s) => s.forgetTask === task).length;
    expect([perTask("Task1"), perTask("Task3")]).toEqual([3, 1]);
    // Retain (5 batches) is cut to 4: no retain row twice, and 4 batches' worth used.
    const used = steps.flatMap((s) => s.retain);
    expect(new Set(used).size).toBe(used.length);
    expect(steps.every((s) => s.retain.length >= 1 && s.retain.length <= 2)).toBe(true);
  });

  it("shuffled: same seed → same epoch, another seed or epoch → another", () => {
    const cycle = Array.from({ length: 60 }, (_, i): Task => TASKS[i % 3]!);
    const many = rows("forget", cycle);
    const keep = rows("retain", cycle);
    const options = { batchSize: 4, shuffle: true, seed: 42, epoch: 0 };
    const a = topicEpoch(many, keep, options);
    expect(topicEpoch(many, keep, options)).toEqual(a);
    expect(topicEpoch(many, keep, { ...options, seed: 43 })).not.toEqual(a);
    expect(topicEpoch(many, keep, { ...options, epoch: 1 })).not.toEqual(a);
    // The two schedules are independent: forget and retain tasks do not move in lockstep.
    expect(a.some((s) => s.forgetTask !== s.retainTask)).toBe(true);
  });

  it("needs a retain set", () => {
    expect(() => topicEpoch(forget, [], { batchSize: 2, shuffle: true, seed: 1, epoch: 0 })).toThrow(
      "retain",
    );
  });
});
