/** Per-token log-probs and the masked loss, against the float64 reference computed in the test. */
import { afterAll, describe, expect, it } from "vitest";
import { score } from "../src/runtime/logprobs.js";
import { modelFrom, testSessions, toTensors } from "./helpers.js";
import { referenceLogProbs } from "./reference/forward64.js";
import { expectedTensors, randomWeights, type TinyShape, tinyConfig } from "./reference/tiny-models.js";

const sessions = testSessions();
afterAll(() => sessions.release());

const SHAPE: TinyShape = {
  vocab: 200,
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 40,
  tied: true,
};
const ROWS = [
  [5, 17, 42, 99, 3, 150, 7],
  [30, 2, 77],
  [9, 9, 101, 33, 120],
];

describe("score", () => {
  it("matches the reference log-probs and applies prompt and label masks", async () => {
    const config = tinyConfig("olmo", SHAPE, { clip_qkv: 1 });
    const weights = randomWeights("olmo", SHAPE, 4, 0.3);
    const model = await modelFrom(config, toTensors(weights, expectedTensors("olmo", SHAPE)), {
      sessionCache: sessions,
    });
    const ref = referenceLogProbs(config, weights, ROWS);

    const all = await score(model, ROWS);
    ROWS.forEach((row, b) => {
      expect(all.tokenLogprobs[b]!.length).toBe(row.length - 1);
      for (const [t, lp] of ref[b]!.entries()) expect(all.tokenLogprobs[b]![t]!).toBeCloseTo(lp, 4);
    });
    const flat = ref.flat();
    expect(all.loss).toBeCloseTo(-flat.reduce((a, b) => a + b, 0) / flat.length, 5);

    // Prompt lengths 3, 1, 4 score tokens t >= prompt; a label mask drops more.
    const labelMask = ROWS.map((r) => r.map((_, t) => (t === 5 ? 0 : 1)));
    const masked = await score(model, ROWS, { promptLengths: [3, 1, 4], labelMask });
    const keep = (b: number, t: number) => t >= [3, 1, 4][b]! && t !== 5;
    let sum = 0;
    let count = 0;
    ROWS.forEach((row, b) => {
      let rowSum = 0;
      let rowCount = 0;
      for (let t = 1; t < row.length; t++) {
        expect(masked.scored[b]![t - 1]).toBe(keep(b, t) ? 1 : 0);
        if (keep(b, t)) {
          rowSum += ref[b]![t - 1]!;
          rowCount++;
        }
      }
      expect(masked.counts[b]).toBe(rowCount);
      expect(masked.rowLoss[b]!).toBeCloseTo(-rowSum / rowCount, 5);
      sum += rowSum;
      count += rowCount;
    });
    expect(masked.loss).toBeCloseTo(-sum / count, 5);
  });

  it("rejects a label mask of the wrong length, naming the row", async () => {
    const config = tinyConfig("llama", SHAPE);
    const weights = randomWeights("llama", SHAPE, 4, 0.3);
    const model = await modelFrom(config, toTensors(weights, expectedTensors("llama", SHAPE)), {
      sessionCache: sessions,
    });
    await expect(score(model, ROWS, { labelMask: [[1], [1, 1, 1], [1, 1, 1, 1, 1]] })).rejects.toThrow(
      "labelMask row 0 has 1 flags for 7 tokens",
    );
  });
});
