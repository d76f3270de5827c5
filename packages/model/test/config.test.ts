/** config.json parsing: real published configs, defaults, and errors that name the offending field. */
import { FormatError } from "@lethe/core";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { inverseFrequencies } from "../src/runtime/inputs.js";

// As published with allenai/OLMo-1B-0724-hf (transformers 4.43).
const OLMO_1B = {
  architectures: ["OlmoForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: null,
  clip_qkv: null,
  eos_token_id: 50279,
  hidden_act: "silu",
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 4096,
  model_type: "olmo",
  num_attention_heads: 16,
  num_hidden_layers: 16,
  num_key_value_heads: 16,
  pad_token_id: 1,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: "float32",
  use_cache: true,
  vocab_size: 50304,
};

// As published with meta-llama/Llama-3.2-1B.
const LLAMA_32_1B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_cache: true,
  vocab_size: 128256,
};

// As published with Qwen/Qwen2-0.5B.
const QWEN2_05B = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: "silu",
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 131072,
  max_window_layers: 24,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 131072,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

describe("parseConfig", () => {
  it("reads OLMo-1B-0724-hf", () => {
    expect(parseConfig(OLMO_1B)).toEqual({
      architecture: "olmo",
      vocabSize: 50304,
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 16,
      numKvHeads: 16,
      headDim: 128,
      maxPositionEmbeddings: 4096,
      norm: "layer-no-params",
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: false,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      clipQkv: null,
      bosTokenId: null,
      eosTokenIds: [50279],
      padTokenId: 1,
      torchDtype: "float32",
    });
    expect(parseConfig({ ...OLMO_1B, clip_qkv: 8 }).clipQkv).toBe(8);
  });

  it("reads Llama-3.2-1B with GQA, tied embeddings and llama3 rope scaling", () => {
    const c = parseConfig(LLAMA_32_1B);
    expect(c).toMatchObject({
      architecture: "llama",
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      norm: "rms",
      normEps: 1e-5,
      tieWordEmbeddings: true,
      ropeScaling: {
        type: "llama3",
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
      eosTokenIds: [128001],
    });
    // llama3 scaling: wavelengths above 8192/1 are divided by 32, below 8192/4 kept.
    const base = inverseFrequencies({ ...c, ropeScaling: null });
    const scaled = inverseFrequencies(c);
    base.forEach((f, i) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < 2048) expect(scaled[i]).toBe(f);
      else if (wavelen > 8192) expect(scaled[i]).toBeCloseTo(f / 32, 15);
      else expect(scaled[i]! > f / 32 && scaled[i]! < f).toBe(true);
    });
  });

  it("reads Qwen2-0.5B with q/k/v bias", () => {
    expect(parseConfig(QWEN2_05B)).toMatchObject({
      architecture: "qwen2",
      numKvHeads: 2,
      headDim: 64,
      qkvBias: true,
      oBias: false,
      tieWordEmbeddings: true,
      ropeTheta: 1e6,
    });
  });

  it("falls back to model_type and fills defaults", () => {
    const { architectures: _, ...noArch } = OLMO_1B;
    expect(parseConfig(noArch).architecture).toBe("olmo");
    const { num_key_value_heads: __, ...noKv } = LLAMA_32_1B;
    expect(parseConfig(noKv).numKvHeads).toBe(32);
    expect(parseConfig({ ...LLAMA_32_1B, rope_scaling: { type: "linear", factor: 2 } }).ropeScaling).toEqual({
      type: "linear",
      factor: 2,
    });
  });

  const errors: [string, Record<string, unknown>, string][] = [
    [
      "another architecture",
      { ...LLAMA_32_1B, architectures: ["MistralForCausalLM"] },
      'unsupported config field "architectures": MistralForCausalLM',
    ],
    [
      "the original OLMo format",
      { ...OLMO_1B, architectures: ["OLMoForCausalLM"] },
      'unsupported config field "architectures": OLMoForCausalLM',
    ],
    ["an unknown model_type", { model_type: "gpt2" }, 'unsupported config field "model_type": "gpt2"'],
    [
      "another activation",
      { ...LLAMA_32_1B, hidden_act: "gelu" },
      'unsupported config field "hidden_act": "gelu" (only silu)',
    ],
    [
      "yarn rope scaling",
      { ...LLAMA_32_1B, rope_scaling: { rope_type: "yarn", factor: 4 } },
      'unsupported config field "rope_scaling.rope_type": "yarn"',
    ],
    [
      "dynamic rope scaling (old key)",
      { ...LLAMA_32_1B, rope_scaling: { type: "dynamic", factor: 2 } },
      'unsupported config field "rope_scaling.type": "dynamic"',
    ],
    [
      "llama3 scaling without its factors",
      { ...LLAMA_32_1B, rope_scaling: { rope_type: "llama3", factor: 8 } },
      'config field "rope_scaling.low_freq_factor" is missing',
    ],
    [
      "sliding-window attention",
      { ...QWEN2_05B, use_sliding_window: true },
      'unsupported config field "use_sliding_window"',
    ],
    [
      "quantized weights",
      { ...LLAMA_32_1B, quantization_config: { quant_method: "gptq" } },
      'unsupported config field "quantization_config"',
    ],
    [
      "partial rotary",
      { ...LLAMA_32_1B, partial_rotary_factor: 0.5 },
      'unsupported config field "partial_rotary_factor"',
    ],
    [
      "kv heads that do not divide heads",
      { ...OLMO_1B, num_key_value_heads: 3 },
      'config field "num_key_value_heads": 3 does not divide num_attention_heads 16',
    ],
    ["a missing size", { ...OLMO_1B, hidden_size: undefined }, 'config field "hidden_size"'],
    ["a wrong type", { ...OLMO_1B, num_hidden_layers: "16" }, 'config field "num_hidden_layers"'],
  ];
  for (const [name, raw, message] of errors) {
    it(`rejects ${name}`, () => {
      const err = (() => {
        try {
          parseConfig(raw, "ckpt/config.json");
        } catch (e) {
          return e as Error;
        }
        throw new Error("parseConfig accepted it");
      })();
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message.startsWith("ckpt/config.json: ")).toBe(true);
      expect(err.message).toContain(message);
    });
  }
});
