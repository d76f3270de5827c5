/** Step counts, `warmup_steps: auto` and the learning-rate schedules against formulas written out here. */
import { describe, expect, it } from "vitest";
import { durationSeconds, isDuration } from "../src/config/duration.js";
import { resolveTrainConfig } from "../src/config/resolve.js";
import {
  learningRate,
  lrScheduleFor,
  resolveWarmupSteps,
  stepsPerEpoch,
  totalSteps,
} from "../src/config/schedule.js";

describe("step counts (§1.4: N_f = 1112)", () => {
  it("zju-over runs 278 steps per epoch and 1390 in all; zju-under 139 and 695", () => {
    expect(stepsPerEpoch(1112, 1, 4)).toBe(278);
    expect(totalSteps(1112, 1, 4, 5)).toBe(1390);
    expect(stepsPerEpoch(1112, 2, 4)).toBe(139);
    expect(totalSteps(1112, 2, 4, 5)).toBe(695);
  });

  it("floors, never below one step, and max_steps caps the run", () => {
    expect(stepsPerEpoch(7, 2, 4)).toBe(1);
    expect(stepsPerEpoch(3, 2, 4)).toBe(1);
    expect(totalSteps(10, 1, 4, 3)).toBe(7); // ⌊30/4⌋, not 3·⌊10/4⌋ = 6
    expect(totalSteps(1112, 4, 1, 1, 80)).toBe(80);
    expect(totalSteps(100, 4, 1, 1, 80)).toBe(25);
  });

  it("warmup auto is one epoch; a number is kept", () => {
    expect(resolveWarmupSteps("auto", 278)).toBe(278);
    expect(resolveWarmupSteps(0, 278)).toBe(0);
    expect(resolveWarmupSteps(10, 278)).toBe(10);
  });

  it("lrScheduleFor resolves a preset", () => {
    const config = resolveTrainConfig(
      { model: "m", out: "o", data: { forget: "f" } },
      { preset: "zju-under" },
    );
    expect(lrScheduleFor(config, 1112)).toEqual({
      kind: "linear",
      peak: 1e-4,
      warmupSteps: 139,
      totalSteps: 695,
    });
  });
});

describe("learning rate", () => {
  /** transformers' get_linear_schedule_with_warmup lr_lambda, times the peak. */
  function hfLinear(step: number, peak: number, warmup: number, total: number): number {
    if (step < warmup) return (peak * step) / Math.max(1, warmup);
    return peak * Math.max(0, (total - step) / Math.max(1, total - warmup));
  }

  it("linear: ramps from 0, peaks at the end of warmup, reaches 0 at the last step", () => {
    const s = { kind: "linear" as const, peak: 1e-4, warmupSteps: 278, totalSteps: 1390 };
    for (const step of [0, 1, 100, 277, 278, 279, 700, 1389, 1390, 1400]) {
      expect(learningRate(step, s)).toBeCloseTo(hfLinear(step, 1e-4, 278, 1390), 15);
    }
    expect(learningRate(0, s)).toBe(0);
    expect(learningRate(139, s)).toBeCloseTo(5e-5, 15);
    expect(learningRate(278, s)).toBeCloseTo(1e-4, 15);
    expect(learningRate(834, s)).toBeCloseTo(5e-5, 15); // halfway through the decay
    expect(learningRate(1390, s)).toBe(0);
  });

  it("no warmup starts at the peak", () => {
    const s = { kind: "linear" as const, peak: 2e-5, warmupSteps: 0, totalSteps: 10 };
    expect(learningRate(0, s)).toBe(2e-5);
    expect(learningRate(5, s)).toBeCloseTo(1e-5, 15);
  });

  it("constant: the warmup ramp, then the peak", () => {
    const s = { kind: "constant" as const, peak: 5e-5, warmupSteps: 4, totalSteps: 100 };
    const expected = [0, 1.25e-5, 2.5e-5, 3.75e-5, 5e-5, 5e-5, 5e-5];
    for (const [i, t] of [0, 1, 2, 3, 4, 50, 99].entries())
      expect(learningRate(t, s)).toBeCloseTo(expected[i]!, 15);
  });

  it("cosine: half a cosine from the peak to 0", () => {
    const s = { kind: "cosine" as const, peak: 1, warmupSteps: 10, totalSteps: 110 };
    expect(learningRate(10, s)).toBeCloseTo(1, 12);
    expect(learningRate(60, s)).toBeCloseTo(0.5, 12);
    expect(learningRate(35, s)).toBeCloseTo((1 + Math.SQRT1_2) / 2, 12);
    expect(learningRate(110, s)).toBeCloseTo(0, 12);
    expect(learningRate(5, s)).toBeCloseTo(0.5, 12);
  });
});

describe("time budget durations", () => {
  it("reads hours, minutes, seconds and combinations", () => {
    expect(durationSeconds("1h")).toBe(3600);
    expect(durationSeconds("30m")).toBe(1800);
    expect(durationSeconds("90s")).toBe(90);
    expect(durationSeconds("1h30m")).toBe(5400);
    expect(durationSeconds("1.5h")).toBe(5400);
    expect(durationSeconds(120)).toBe(120);
  });

  it("refuses what is not a duration", () => {
    for (const bad of ["", "1", "h", "1d", "30m1h", "0s", "-1h"]) expect(isDuration(bad), bad).toBe(false);
    expect(() => durationSeconds("soon")).toThrow(RangeError);
  });
});
