/**
 * Test support: tiny configs and seeded random weights under the exact Hugging Face tensor names, written
 * independently of `src/init` (so init tests can compare against this list).
 */
import type { Weights } from "./forward64.js";

export type Arch = "llama" | "olmo" | "qwen2";

export interface TinyShape {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  tied: boolean;
}

export const DEFAULT_SHAPE: TinyShape = {
  vocab: 11,
  hidden: 8,
  layers: 2,
  heads: 2,
  kvHeads: 1,
  intermediate: 12,
  tied: false,
};

const MODEL_CLASS: Record<Arch, string> = {
  llama: "LlamaForCausalLM",
  olmo: "OlmoForCausalLM",
  qwen2: "Qwen2ForCausalLM",
};

export function tinyConfig(arch: Arch, shape: Partial<TinyShape> = {}, extra: Record<string, unknown> = {}) {
  const s = { ...DEFAULT_SHAPE, ...shape };
  const config: Record<string, unknown> = {
    architectures: [MODEL_CLASS[arch]],
    model_type: arch,
    vocab_size: s.vocab,
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    hidden_act: "silu",
    rope_theta: 10000,
    rope_scaling: null,
    tie_word_embeddings: s.tied,
    pad_token_id: 1,
    eos_token_id: 0,
  };
  if (arch !== "olmo") config["rms_norm_eps"] = 1e-6;
  if (arch === "olmo") config["clip_qkv"] = null;
  return { ...config, ...extra };
}

/** Every tensor name and shape a checkpoint of `arch` holds (HF names; Linear weights are [out, in]). */
export function expectedTensors(arch: Arch, s: TinyShape): Map<string, number[]> {
  const headDim = s.hidden / s.heads;
  const q = s.heads * headDim;
  const kv = s.kvHeads * headDim;
  const out = new Map<string, number[]>();
  out.set("model.embed_tokens.weight", [s.vocab, s.hidden]);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    out.set(`${p}.self_attn.q_proj.weight`, [q, s.hidden]);
    out.set(`${p}.self_attn.k_proj.weight`, [kv, s.hidden]);
    out.set(`${p}.self_attn.v_proj.weight`, [kv, s.hidden]);
    out.set(`${p}.self_attn.o_proj.weight`, [s.hidden, q]);
    if (arch === "qwen2") {
      out.set(`${p}.self_attn.q_proj.bias`, [q]);
      out.set(`${p}.self_attn.k_proj.bias`, [kv]);
      out.set(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    out.set(`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]);
    out.set(`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]);
    out.set(`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]);
    if (arch !== "olmo") {
      out.set(`${p}.input_layernorm.weight`, [s.hidden]);
      out.set(`${p}.post_attention_layernorm.weight`, [s.hidden]);
    }
  }
  if (arch !== "olmo") out.set("model.norm.weight", [s.hidden]);
  if (!s.tied) out.set("lm_head.weight", [s.vocab, s.hidden]);
  return out;
}

/** A small LCG + Box-Muller; good enough for test weights, unrelated to src/init's generator. */
export function gaussians(seed: number) {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Random weights: linear weights and biases N(0, std²), norm weights 1 + N(0, 0.1²). */
export function randomWeights(arch: Arch, shape: Partial<TinyShape> = {}, seed = 1, std = 0.3): Weights {
  const s = { ...DEFAULT_SHAPE, ...shape };
  const g = gaussians(seed);
  const weights: Weights = new Map();
  for (const [name, dims] of expectedTensors(arch, s)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const isNorm = name.endsWith("norm.weight");
    weights.set(
      name,
      Float64Array.from({ length: n }, () => (isNorm ? 1 + 0.1 * g() : std * g())),
    );
  }
  return weights;
}
