/**
 * `config.json` → ModelConfig. One zod schema per architecture for the fields the graphs depend on; every
 * other field is ignored. A field whose value the graphs cannot honour (another activation, another RoPE
 * scaling, sliding-window attention, ...) is an error that names the field.
 */
import { FormatError } from "@lethe/core";
import { z } from "zod";

export type Architecture = "llama" | "olmo" | "qwen2";

export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export type NormKind = "rms" | "layer-no-params";

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  /** RMSNorm with a weight (Llama, Qwen2) or LayerNorm without parameters (OLMo). */
  norm: NormKind;
  normEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2; Llama and OLMo with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama and OLMo with attention_bias). */
  oBias: boolean;
  mlpBias: boolean;
  /** OLMo: clamp q, k, v to [-clip_qkv, clip_qkv] after projection. */
  clipQkv: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  torchDtype: string | null;
}

const ARCHITECTURES: Record<string, Architecture> = {
  LlamaForCausalLM: "llama",
  OlmoForCausalLM: "olmo",
  Qwen2ForCausalLM: "qwen2",
};

const positiveInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative().nullish();

const ropeScalingSchema = z
  .looseObject({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().positive().optional(),
    high_freq_factor: z.number().positive().optional(),
    original_max_position_embeddings: positiveInt.optional(),
  })
  .nullish();

const common = {
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  hidden_act: z.string().default("silu"),
  max_position_embeddings: positiveInt.default(2048),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: ropeScalingSchema,
  partial_rotary_factor: z.number().nullish(),
  tie_word_embeddings: z.boolean().default(false),
  bos_token_id: tokenId,
  eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullish(),
  pad_token_id: tokenId,
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
  quantization_config: z.unknown().optional(),
};

const schemas = {
  llama: z.looseObject({
    ...common,
    rms_norm_eps: z.number().positive().default(1e-6),
    attention_bias: z.boolean().default(false),
    mlp_bias: z.boolean().default(false),
  }),
  olmo: z.looseObject({
    ...common,
    attention_bias: z.boolean().default(false),
    clip_qkv: z.number().positive().nullish(),
  }),
  qwen2: z.looseObject({
    ...common,
    rms_norm_eps: z.number().positive().default(1e-6),
    use_sliding_window: z.boolean().default(false),
    layer_types: z.array(z.string()).nullish(),
  }),
};

function unsupported(source: string, field: string, detail: string): FormatError {
  return new FormatError(`${source}: unsupported config field "${field}": ${detail}`);
}

function detectArchitecture(raw: Record<string, unknown>, source: string): Architecture {
  const archs = raw["architectures"];
  if (Array.isArray(archs) && archs.length > 0) {
    const name = String(archs[0]);
    const arch = ARCHITECTURES[name];
    if (!arch) {
      throw unsupported(
        source,
        "architectures",
        `${name} (supported: ${Object.keys(ARCHITECTURES).join(", ")})`,
      );
    }
    return arch;
  }
  const modelType = raw["model_type"];
  if (modelType === "llama" || modelType === "olmo" || modelType === "qwen2") return modelType;
  if (modelType === undefined)
    throw new FormatError(`${source}: config field "architectures" (or "model_type") is missing`);
  throw unsupported(source, "model_type", `${JSON.stringify(modelType)} (supported: llama, olmo, qwen2)`);
}

function parseRopeScaling(
  rs: z.infer<typeof ropeScalingSchema>,
  maxPositions: number,
  source: string,
): RopeScaling | null {
  if (!rs) return null;
  const kind = rs.rope_type ?? rs.type;
  const field = rs.rope_type !== undefined ? "rope_scaling.rope_type" : "rope_scaling.type";
  if (kind === undefined || kind === "default") return null;
  const need = (name: keyof typeof rs, value: number | undefined): number => {
    if (value === undefined)
      throw new FormatError(`${source}: config field "rope_scaling.${String(name)}" is missing`);
    return value;
  };
  if (kind === "linear") return { type: "linear", factor: need("factor", rs.factor) };
  if (kind === "llama3") {
    return {
      type: "llama3",
      factor: need("factor", rs.factor),
      lowFreqFactor: need("low_freq_factor", rs.low_freq_factor),
      highFreqFactor: need("high_freq_factor", rs.high_freq_factor),
      originalMaxPositionEmbeddings: rs.original_max_position_embeddings ?? maxPositions,
    };
  }
  throw unsupported(source, field, `${JSON.stringify(kind)} (supported: default, linear, llama3)`);
}

/** Validate a parsed config.json. `source` names the file in error messages. */
export function parseConfig(raw: unknown, source = "config.json"): ModelConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FormatError(`${source}: expected a JSON object`);
  }
  const obj = raw as Record<string, unknown>;
  const architecture = detectArchitecture(obj, source);
  const parsed = schemas[architecture].safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".");
    throw new FormatError(`${source}: config field "${field}": ${issue.message}`);
  }
  const c = parsed.data;

  if (c.hidden_act !== "silu")
    throw unsupported(source, "hidden_act", `${JSON.stringify(c.hidden_act)} (only silu)`);
  if (c.partial_rotary_factor != null && c.partial_rotary_factor !== 1) {
    throw unsupported(source, "partial_rotary_factor", `${c.partial_rotary_factor} (only 1)`);
  }
  if (c.quantization_config != null)
    throw unsupported(source, "quantization_config", "quantized checkpoints");
  const qwen = c as Partial<z.infer<typeof schemas.qwen2>>;
  if (qwen.use_sliding_window) {
    throw unsupported(source, "use_sliding_window", "true (sliding-window attention is not implemented)");
  }
  if (qwen.layer_types?.some((t) => t !== "full_attention")) {
    throw unsupported(source, "layer_types", "only full_attention layers");
  }

  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKvHeads !== 0) {
    throw new FormatError(
      `${source}: config field "num_key_value_heads": ${numKvHeads} does not divide num_attention_heads ${c.num_attention_heads}`,
    );
  }
  let headDim = c.head_dim ?? null;
  if (headDim === null) {
    if (c.hidden_size % c.num_attention_heads !== 0) {
      throw new FormatError(
        `${source}: config field "num_attention_heads": ${c.num_attention_heads} does not divide hidden_size ${c.hidden_size}`,
      );
    }
    headDim = c.hidden_size / c.num_attention_heads;
  }
  if (headDim % 2 !== 0)
    throw new FormatError(`${source}: config field "head_dim": ${headDim} must be even for RoPE`);

  const eos = c.eos_token_id;
  const base = {
    architecture,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: c.max_position_embeddings,
    ropeTheta: c.rope_theta,
    ropeScaling: parseRopeScaling(c.rope_scaling, c.max_position_embeddings, source),
    tieWordEmbeddings: c.tie_word_embeddings,
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: eos == null ? [] : Array.isArray(eos) ? eos : [eos],
    padTokenId: c.pad_token_id ?? null,
    torchDtype: c.torch_dtype ?? c.dtype ?? null,
  };
  switch (architecture) {
    case "llama": {
      const l = c as z.infer<typeof schemas.llama>;
      return {
        ...base,
        norm: "rms",
        normEps: l.rms_norm_eps,
        qkvBias: l.attention_bias,
        oBias: l.attention_bias,
        mlpBias: l.mlp_bias,
        clipQkv: null,
      };
    }
    case "olmo": {
      const o = c as z.infer<typeof schemas.olmo>;
      return {
        ...base,
        norm: "layer-no-params",
        normEps: 1e-5,
        qkvBias: o.attention_bias,
        oBias: o.attention_bias,
        mlpBias: false,
        clipQkv: o.clip_qkv ?? null,
      };
    }
    case "qwen2": {
      const q = c as z.infer<typeof schemas.qwen2>;
      return {
        ...base,
        norm: "rms",
        normEps: q.rms_norm_eps,
        qkvBias: true,
        oBias: false,
        mlpBias: false,
        clipQkv: null,
      };
    }
  }
}
