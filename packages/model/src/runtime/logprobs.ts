/**
 * Per-token log-probabilities and the language-modelling loss with a label mask. Token t of a row (t ≥ 1) is
 * scored by log p(x_t | x_<t); the first token, prompt tokens and padding are never scored. The loss is the
 * mean negative log-likelihood over the scored tokens of the batch (Hugging Face's causal-LM loss with
 * labels = -100 on masked positions); per-row sums and counts are returned as well.
 */
import { FormatError } from "@lethe/core";
import * as ort from "onnxruntime-node";
import { decoderLayers, embed, stepInputs } from "./forward.js";
import { leftPad } from "./inputs.js";
import type { Model } from "./model.js";

export interface ScoreOptions {
  /** Per row, the number of leading prompt tokens that are not scored. */
  promptLengths?: readonly number[];
  /** Per row, one flag per token: score token t only where labelMask[t] is truthy. */
  labelMask?: readonly (readonly (number | boolean)[])[];
}

export interface ScoreResult {
  /** Per row, log p(x_t | x_<t) for t = 1 .. len−1 (len−1 values, scored or not). */
  tokenLogprobs: Float32Array[];
  /** Per row, aligned with tokenLogprobs: 1 where the token is scored. */
  scored: Uint8Array[];
  /** Per row, the sum of scored log-probs and their count. */
  sums: number[];
  counts: number[];
  /** Mean NLL over all scored tokens of the batch (NaN when none is scored). */
  loss: number;
  /** Per row, mean NLL over its scored tokens (NaN when none). */
  rowLoss: number[];
}

export async function score(
  model: Model,
  rows: readonly (readonly number[])[],
  opts: ScoreOptions = {},
): Promise<ScoreResult> {
  const padded = leftPad(rows, model.padId, model.config.vocabSize);
  const { batch, seq } = padded;
  // labels[b, k] = the token after padded position k (0 where there is none; never scored).
  const labels = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k + 1 < seq; k++) labels[b * seq + k] = padded.ids[b * seq + k + 1]!;
  }
  const step = stepInputs(model, batch, seq, padded.mask, padded.positions);
  const hidden = await decoderLayers(model, await embed(model, padded.ids, batch, seq), step);
  const g = await model.graph("logprobs");
  const feeds: Record<string, ort.Tensor> = {
    hidden,
    labels: new ort.Tensor("int64", labels, [batch, seq]),
    "lm_head.weight": model.weights.lmHead,
  };
  if (model.weights.finalNorm) feeds["model.norm.weight"] = model.weights.finalNorm;
  const lp = (await g.session.run(feeds))["token_logprobs"]!.data as Float32Array;

  const result: ScoreResult = {
    tokenLogprobs: [],
    scored: [],
    sums: [],
    counts: [],
    loss: Number.NaN,
    rowLoss: [],
  };
  let total = 0;
  let count = 0;
  rows.forEach((row, b) => {
    const n = row.length;
    const pad = seq - n;
    const prompt = opts.promptLengths?.[b] ?? 0;
    const mask = opts.labelMask?.[b];
    if (mask && mask.length !== n) {
      throw new FormatError(`labelMask row ${b} has ${mask.length} flags for ${n} tokens`);
    }
    const values = new Float32Array(Math.max(0, n - 1));
    const scored = new Uint8Array(values.length);
    let sum = 0;
    let c = 0;
    for (let t = 1; t < n; t++) {
      // Position t is predicted from padded position pad + t − 1.
      values[t - 1] = lp[b * seq + pad + t - 1]!;
      if (t >= prompt && (!mask || mask[t])) {
        scored[t - 1] = 1;
        sum += values[t - 1]!;
        c++;
      }
    }
    result.tokenLogprobs.push(values);
    result.scored.push(scored);
    result.sums.push(sum);
    result.counts.push(c);
    result.rowLoss.push(c > 0 ? -sum / c : Number.NaN);
    total += sum;
    count += c;
  });
  result.loss = count > 0 ? -total / count : Number.NaN;
  return result;
}
