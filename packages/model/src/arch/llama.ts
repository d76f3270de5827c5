/**
 * LlamaForCausalLM (modeling_llama.py): pre-norm decoder layers with LlamaRMSNorm, rotary embeddings
 * (default, linear or llama3 scaling, computed on the host), grouped-query attention and a SwiGLU MLP.
 * `attention_bias` adds biases to q/k/v/o, `mlp_bias` to the MLP projections.
 */
import { type ArchitectureDefinition, decoderLayer, rmsNormAt } from "./common.js";

export const llama: ArchitectureDefinition = {
  norm: rmsNormAt,
  finalNorm: "model.norm",
  decoderLayer: (p, x, ctx, c, opts) => decoderLayer(p, rmsNormAt, x, ctx, c, opts),
};
