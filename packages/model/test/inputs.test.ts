/** Host-side graph inputs: left padding, position ids and the additive attention mask. */
import { describe, expect, it } from "vitest";
import { attentionBias, leftPad, MASKED } from "../src/runtime/inputs.js";

describe("leftPad", () => {
  it("pads on the left with position ids counted from each row's first token (pads get 1)", () => {
    const p = leftPad([[7, 8, 9], [5]], 0, 10);
    expect([p.batch, p.seq]).toEqual([2, 3]);
    expect([...p.ids]).toEqual([7n, 8n, 9n, 0n, 0n, 5n]);
    expect([...p.mask]).toEqual([1, 1, 1, 0, 0, 1]);
    expect([...p.positions]).toEqual([0, 1, 2, 1, 1, 0]);
    expect(p.lengths).toEqual([3, 1]);
  });

  it("rejects empty input", () => {
    expect(() => leftPad([], 0, 10)).toThrow("input ids: the batch is empty");
    expect(() => leftPad([[1], []], 0, 10)).toThrow("input ids: row 1 is empty");
  });
});

describe("attentionBias", () => {
  const allowed = (bias: Float32Array) => [...bias].map((v) => (v === 0 ? 1 : v === MASKED ? 0 : Number.NaN));

  it("is causal, masks pad keys, and lets a pad query see only itself", () => {
    // Row 0: [pad, a, b]; row 1: [a, b, c].
    const mask = Uint8Array.from([0, 1, 1, 1, 1, 1]);
    expect(allowed(attentionBias(mask, 2, 3, 3))).toEqual([
      ...[1, 0, 0, 0, 1, 0, 0, 1, 1],
      ...[1, 0, 0, 1, 1, 0, 1, 1, 1],
    ]);
  });

  it("for one new token after cached ones, allows every real key", () => {
    const mask = Uint8Array.from([0, 1, 1, 1, 1, 1, 1, 1]);
    expect(allowed(attentionBias(mask, 2, 1, 4))).toEqual([0, 1, 1, 1, 1, 1, 1, 1]);
  });
});
