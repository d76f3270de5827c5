/** How one decoder layer's output (the residual stream after the layer) moved, on forget and on retain text. */
export interface ResidualLayerStats {
  /** 0-based decoder layer; its output is `hidden_states[layer + 1]` in Hugging Face numbering. */
  layer: number;
  /** Mean over tokens of cos(h_checkpoint, h_base). 1 = unchanged direction. */
  forget_cosine: number;
  retain_cosine: number;
  /** Mean over tokens of ‖h_checkpoint‖ / ‖h_base‖. 1 = unchanged norm. */
  forget_norm_ratio: number;
  retain_norm_ratio: number;
}

/** The change of one weight tensor, grouped by decoder layer and module (e.g. `mlp.down_proj`). */
export interface WeightDeltaStats {
  /** Decoder layer, or null for tensors outside the layers (embeddings, final norm, lm_head). */
  layer: number | null;
  /** The tensor name with the layer prefix and the `.weight`/`.bias` suffix kept, e.g. `mlp.down_proj.weight`. */
  module: string;
  /** ‖W_checkpoint − W_base‖_F. */
  delta_norm: number;
  /** ‖W_base‖_F. */
  base_norm: number;
  /** delta_norm / base_norm (0 when both are 0). */
  relative: number;
}

export interface LayerAnalysis {
  /** The checkpoint compared against (URI as given). */
  base: string;
  /** Number of tokens averaged over. */
  forget_tokens: number;
  retain_tokens: number;
  residual: ResidualLayerStats[];
  weights: WeightDeltaStats[];
}
