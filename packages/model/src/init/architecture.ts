/**
 * What a tiny checkpoint looks like in Hugging Face terms: the `config.json` keys of `LlamaForCausalLM`,
 * `OlmoForCausalLM` and `Qwen2ForCausalLM` (transformers 4.4x, the format the SemEval OLMo checkpoints use),
 * and the exact tensor names and shapes each class loads.
 */
import { TORCH_DTYPE } from "@lethe/core";

export type TinyArch = "llama" | "olmo" | "qwen2";
export const TINY_ARCHS: readonly TinyArch[] = ["llama", "olmo", "qwen2"];

export type RopeScaling =
  | { rope_type: "linear"; factor: number }
  | {
      rope_type: "llama3";
      factor: number;
      low_freq_factor: number;
      high_freq_factor: number;
      original_max_position_embeddings: number;
    };

export interface TinyArchitecture {
  arch: TinyArch;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocabSize: number;
  tieEmbeddings: boolean;
  dtype: "F32" | "BF16";
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** OLMo only. */
  clipQkv: number | null;
  maxPositionEmbeddings: number;
  /** Llama and Qwen2 (OLMo's LayerNorm has a fixed eps of 1e-5 and no key for it). */
  rmsNormEps: number;
  initializerRange: number;
  eosId: number;
  padId: number;
}

export const MODEL_CLASS: Record<TinyArch, string> = {
  llama: "LlamaForCausalLM",
  olmo: "OlmoForCausalLM",
  qwen2: "Qwen2ForCausalLM",
};

/** Recorded in config.json like any checkpoint saved by transformers. */
export const TRANSFORMERS_VERSION = "4.46.0";

export function checkArchitecture(a: TinyArchitecture): void {
  const positive = [
    "layers",
    "hidden",
    "heads",
    "kvHeads",
    "intermediate",
    "vocabSize",
    "maxPositionEmbeddings",
  ] as const;
  for (const key of positive) {
    if (!Number.isInteger(a[key]) || a[key] < 1)
      throw new Error(`${key} must be a positive integer, got ${a[key]}`);
  }
  if (!TINY_ARCHS.includes(a.arch))
    throw new Error(`arch must be one of ${TINY_ARCHS.join(", ")}, got "${a.arch}"`);
  if (a.hidden % a.heads !== 0)
    throw new Error(`hidden (${a.hidden}) must be divisible by heads (${a.heads})`);
  if ((a.hidden / a.heads) % 2 !== 0)
    throw new Error(`head dim hidden/heads = ${a.hidden / a.heads} must be even for RoPE`);
  if (a.heads % a.kvHeads !== 0)
    throw new Error(`heads (${a.heads}) must be divisible by kvHeads (${a.kvHeads})`);
  if (a.clipQkv !== null && a.arch !== "olmo")
    throw new Error(`clipQkv is an OLMo option; arch is ${a.arch}`);
  if (a.clipQkv !== null && !(a.clipQkv > 0)) throw new Error(`clipQkv must be positive, got ${a.clipQkv}`);
  if (a.padId >= a.vocabSize || a.eosId >= a.vocabSize)
    throw new Error("eos/pad ids must be inside the vocabulary");
}

/** config.json, keys sorted as transformers writes them. */
export function hfConfig(a: TinyArchitecture): Record<string, unknown> {
  const common: Record<string, unknown> = {
    architectures: [MODEL_CLASS[a.arch]],
    model_type: a.arch,
    vocab_size: a.vocabSize,
    hidden_size: a.hidden,
    intermediate_size: a.intermediate,
    num_hidden_layers: a.layers,
    num_attention_heads: a.heads,
    num_key_value_heads: a.kvHeads,
    hidden_act: "silu",
    max_position_embeddings: a.maxPositionEmbeddings,
    initializer_range: a.initializerRange,
    use_cache: true,
    rope_theta: a.ropeTheta,
    rope_scaling: a.ropeScaling,
    attention_dropout: 0.0,
    tie_word_embeddings: a.tieEmbeddings,
    eos_token_id: a.eosId,
    pad_token_id: a.padId,
    torch_dtype: TORCH_DTYPE[a.dtype],
    transformers_version: TRANSFORMERS_VERSION,
  };
  const specific: Record<TinyArch, Record<string, unknown>> = {
    llama: {
      bos_token_id: a.eosId,
      rms_norm_eps: a.rmsNormEps,
      attention_bias: false,
      mlp_bias: false,
      head_dim: a.hidden / a.heads,
      pretraining_tp: 1,
    },
    // Like allenai/OLMo-*-hf: no BOS token, no norm eps key (the LayerNorm has none), clip_qkv.
    olmo: { bos_token_id: null, attention_bias: false, clip_qkv: a.clipQkv },
    // Qwen2's q/k/v biases are always on; sliding-window attention is off.
    qwen2: {
      bos_token_id: a.eosId,
      rms_norm_eps: a.rmsNormEps,
      use_sliding_window: false,
      sliding_window: a.maxPositionEmbeddings,
      max_window_layers: a.layers,
    },
  };
  const config = { ...common, ...specific[a.arch] };
  return Object.fromEntries(Object.entries(config).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

export function generationConfig(a: TinyArchitecture): Record<string, unknown> {
  const bos = a.arch === "olmo" ? {} : { bos_token_id: a.eosId };
  return {
    _from_model_config: true,
    ...bos,
    eos_token_id: a.eosId,
    pad_token_id: a.padId,
    transformers_version: TRANSFORMERS_VERSION,
  };
}

/** How a tensor is initialised, after transformers' `_init_weights`. */
export type InitKind = "normal" | "embedding" | "ones" | "zeros";

export interface PlannedTensor {
  name: string;
  shape: number[];
  init: InitKind;
}

/** Every tensor of the checkpoint, in module order. Linear weights are [out, in]. */
export function tensorPlan(a: TinyArchitecture): PlannedTensor[] {
  const headDim = a.hidden / a.heads;
  const qDim = a.heads * headDim;
  const kvDim = a.kvHeads * headDim;
  const plan: PlannedTensor[] = [
    { name: "model.embed_tokens.weight", shape: [a.vocabSize, a.hidden], init: "embedding" },
  ];
  const linear = (name: string, out: number, inp: number) =>
    plan.push({ name: `${name}.weight`, shape: [out, inp], init: "normal" });
  for (let l = 0; l < a.layers; l++) {
    const p = `model.layers.${l}`;
    linear(`${p}.self_attn.q_proj`, qDim, a.hidden);
    linear(`${p}.self_attn.k_proj`, kvDim, a.hidden);
    linear(`${p}.self_attn.v_proj`, kvDim, a.hidden);
    if (a.arch === "qwen2") {
      plan.push({ name: `${p}.self_attn.q_proj.bias`, shape: [qDim], init: "zeros" });
      plan.push({ name: `${p}.self_attn.k_proj.bias`, shape: [kvDim], init: "zeros" });
      plan.push({ name: `${p}.self_attn.v_proj.bias`, shape: [kvDim], init: "zeros" });
    }
    linear(`${p}.self_attn.o_proj`, a.hidden, qDim);
    linear(`${p}.mlp.gate_proj`, a.intermediate, a.hidden);
    linear(`${p}.mlp.up_proj`, a.intermediate, a.hidden);
    linear(`${p}.mlp.down_proj`, a.hidden, a.intermediate);
    if (a.arch !== "olmo") {
      plan.push({ name: `${p}.input_layernorm.weight`, shape: [a.hidden], init: "ones" });
      plan.push({ name: `${p}.post_attention_layernorm.weight`, shape: [a.hidden], init: "ones" });
    }
  }
  if (a.arch !== "olmo") plan.push({ name: "model.norm.weight", shape: [a.hidden], init: "ones" });
  if (!a.tieEmbeddings) linear("lm_head", a.vocabSize, a.hidden);
  return plan;
}
