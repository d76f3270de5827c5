/**
 * Qwen2ForCausalLM (modeling_qwen2.py): the Llama layout with biases on the q/k/v projections (not on
 * o_proj). Sliding-window attention is refused by the config parser.
 */
import { type ArchitectureDefinition, decoderLayer, rmsNormAt } from "./common.js";

export const qwen2: ArchitectureDefinition = {
  norm: rmsNormAt,
  finalNorm: "model.norm",
  decoderLayer: (p, x, ctx, c, opts) => decoderLayer(p, rmsNormAt, x, ctx, c, opts),
};
