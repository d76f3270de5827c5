import { FormatError } from "@lethe/core";
import { mapInBatches } from "../model/batches.js";
import type { EvalModel, TextHiddenStates } from "../model/eval-model.js";
import type { ResidualLayerStats } from "./types.js";

/** Running token sums for one layer on one split. */
interface LayerSums {
  cosine: number;
  normRatio: number;
  tokens: number;
}

/**
 * Add one text's per-token comparisons to the running sums: cos(h, h₀) and ‖h‖/‖h₀‖ for every token of
 * every layer (h from the checkpoint, h₀ from the base). Tokens where either vector is zero are skipped
 * (neither number is defined there).
 */
export function accumulateResidual(
  sums: LayerSums[],
  checkpoint: TextHiddenStates,
  base: TextHiddenStates,
): void {
  if (checkpoint.tokens !== base.tokens || checkpoint.hidden !== base.hidden) {
    throw new FormatError(
      `layer analysis: checkpoint and base disagree on the text's shape ` +
        `(${checkpoint.tokens}×${checkpoint.hidden} vs ${base.tokens}×${base.hidden}); they need the same tokenizer and width`,
    );
  }
  if (checkpoint.layers.length !== base.layers.length) {
    throw new FormatError(
      `layer analysis: checkpoint has ${checkpoint.layers.length} decoder layers, base ${base.layers.length}`,
    );
  }
  const d = checkpoint.hidden;
  for (let l = 0; l < checkpoint.layers.length; l++) {
    const h = checkpoint.layers[l]!;
    const h0 = base.layers[l]!;
    const s = sums[l] ?? { cosine: 0, normRatio: 0, tokens: 0 };
    sums[l] = s;
    for (let t = 0; t < checkpoint.tokens; t++) {
      let dot = 0;
      let nn = 0;
      let n0 = 0;
      for (let k = t * d, end = k + d; k < end; k++) {
        const a = h[k]!;
        const b = h0[k]!;
        dot += a * b;
        nn += a * a;
        n0 += b * b;
      }
      if (nn === 0 || n0 === 0) continue;
      s.cosine += dot / Math.sqrt(nn * n0);
      s.normRatio += Math.sqrt(nn / n0);
      s.tokens += 1;
    }
  }
}

async function splitSums(
  model: EvalModel,
  base: EvalModel,
  texts: readonly string[],
  batchSize: number,
): Promise<{ sums: LayerSums[]; tokens: number }> {
  const sums: LayerSums[] = [];
  let tokens = 0;
  await mapInBatches(
    texts,
    batchSize,
    (t) => t.length,
    async (batch) => {
      const [mine, theirs] = [await model.hiddenStates(batch), await base.hiddenStates(batch)];
      batch.forEach((_, i) => {
        accumulateResidual(sums, mine[i]!, theirs[i]!);
        tokens += mine[i]!.tokens;
      });
      return batch.map(() => null);
    },
  );
  return { sums, tokens };
}

/**
 * Where the residual stream moved: for every decoder layer, the token-averaged cosine similarity and norm
 * ratio between the checkpoint's and the base's layer outputs, on forget text and on retain text.
 * Unlearning that acts where it should shows forget cosines dropping (or norms growing, for RMU) from
 * the steered layer on, while retain stays near 1.
 */
export async function compareResidualStreams(
  model: EvalModel,
  base: EvalModel,
  texts: { forget: readonly string[]; retain: readonly string[] },
  options: { batchSize?: number } = {},
): Promise<{ residual: ResidualLayerStats[]; forget_tokens: number; retain_tokens: number }> {
  const batchSize = options.batchSize ?? 4;
  const forget = await splitSums(model, base, texts.forget, batchSize);
  const retain = await splitSums(model, base, texts.retain, batchSize);
  const mean = (s: LayerSums | undefined, key: "cosine" | "normRatio"): number =>
    s === undefined || s.tokens === 0 ? Number.NaN : s[key] / s.tokens;
  const residual: ResidualLayerStats[] = [];
  for (let layer = 0; layer < model.numLayers; layer++) {
    residual.push({
      layer,
      forget_cosine: mean(forget.sums[layer], "cosine"),
      retain_cosine: mean(retain.sums[layer], "cosine"),
      forget_norm_ratio: mean(forget.sums[layer], "normRatio"),
      retain_norm_ratio: mean(retain.sums[layer], "normRatio"),
    });
  }
  return { residual, forget_tokens: forget.tokens, retain_tokens: retain.tokens };
}
