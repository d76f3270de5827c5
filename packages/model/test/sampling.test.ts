/** Next-token selection: argmax ties, temperature and nucleus filtering, seeded draws. */
import { describe, expect, it } from "vitest";
import { argmax, SeededRandom, selectToken } from "../src/runtime/sampling.js";

describe("selectToken", () => {
  it("greedy takes the first maximum", () => {
    const logits = Float32Array.from([9, 1, 3, 3, 0]);
    expect(argmax(logits, 1, 4)).toBe(1); // [1, 3, 3, 0] → index 1
    expect(selectToken(logits, 0, 5, {}, new SeededRandom(1))).toBe(0);
  });

  it("samples from the renormalised nucleus with the tempered probabilities", () => {
    // p = [0.5, 0.3, 0.15, 0.05]; top-p 0.75 keeps {0, 1} (mass 0.8) → 0.625 / 0.375.
    const logits = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
    const rng = new SeededRandom(42);
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[selectToken(logits, 0, 4, { temperature: 1, topP: 0.75 }, rng)]!++;
    expect(counts[2]).toBe(0);
    expect(counts[3]).toBe(0);
    expect(counts[0]! / n).toBeCloseTo(0.625, 1);

    // Temperature 2 flattens: p ∝ sqrt(p) → [0.402, 0.311, 0.220, 0.127] (no nucleus cut).
    const flat = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) flat[selectToken(logits, 0, 4, { temperature: 2 }, rng)]!++;
    const root = [0.5, 0.3, 0.15, 0.05].map(Math.sqrt);
    const z = root.reduce((a, b) => a + b);
    root.forEach((r, i) => {
      expect(Math.abs(flat[i]! / n - r / z)).toBeLessThan(0.015);
    });
  });

  it("draws the same stream for the same seed", () => {
    const a = new SeededRandom(7);
    const b = new SeededRandom(7);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new SeededRandom(8).next()).not.toBe(xs[0]);
  });
});
