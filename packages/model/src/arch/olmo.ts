/**
 * OlmoForCausalLM (modeling_olmo.py, the OLMo-*-0724-hf checkpoints): the Llama layout with OlmoLayerNorm,
 * a LayerNorm without weight or bias (eps 1e-5), so no norm tensors exist in the checkpoint. With
 * `clip_qkv` set, the q/k/v projections are clamped to [-clip_qkv, clip_qkv] before RoPE.
 */
import { type ArchitectureDefinition, decoderLayer, layerNormNoParamsAt } from "./common.js";

export const olmo: ArchitectureDefinition = {
  norm: layerNormNoParamsAt,
  finalNorm: null,
  decoderLayer: (p, x, ctx, c, opts) => decoderLayer(p, layerNormNoParamsAt, x, ctx, c, opts),
};
