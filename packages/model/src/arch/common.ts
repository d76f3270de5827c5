/**
 * The building blocks shared by Llama, OLMo and Qwen2, written after Hugging Face's modeling code
 * (LlamaRMSNorm, OlmoLayerNorm, LlamaAttention with apply_rotary_pos_emb and repeat_kv, LlamaMLP). Weights are
 * graph inputs declared on first use through a `Params` accessor, so the same functions build a single-layer
 * graph (inputs named `self_attn.q_proj.weight`) and a whole-model graph (`model.layers.3.self_attn...`).
 */
import type { ModelConfig } from "../config.js";
import type { DataType, Graph, Shape, Value } from "../graph/ir.js";
import {
  add,
  cast,
  clip,
  concat,
  div,
  expand,
  matmul,
  mul,
  neg,
  pow,
  reduceMean,
  reshape,
  sigmoid,
  slice,
  softmax,
  sqrt,
  sub,
  transpose,
  unsqueeze,
} from "../graph/ops.js";

/** The linear modules of a decoder layer, as PEFT and the checkpoint name them. */
export const LAYER_LINEARS = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
] as const;
export type LayerLinear = (typeof LAYER_LINEARS)[number];

export interface BuildOptions {
  /** Dtype of the linear-layer weights and their MatMuls; everything else computes in float32. */
  matmulDtype: "float32" | "float16";
  /** LoRA modules applied at run time (relative names) with their ranks. */
  lora: ReadonlyMap<LayerLinear, number> | null;
  /**
   * Training: PEFT's lora_dropout on each LoRA module's input, as a fed mask `<module>.lora_dropout`
   * [batch, seq, in] of 0 and 1/(1−p) (the trainer draws it, so forward and recomputation agree).
   */
  loraDropout?: boolean;
}

/** Declares (once) and returns the graph input holding a weight. */
export class Params {
  constructor(
    readonly graph: Graph,
    private readonly prefix = "",
    private readonly declared = new Map<string, Value>(),
  ) {}

  get(name: string, shape: Shape, dtype: DataType = "float32"): Value {
    const full = this.prefix + name;
    let v = this.declared.get(full);
    if (!v) {
      v = this.graph.input(full, dtype, shape);
      this.declared.set(full, v);
    }
    return v;
  }

  /** Params under `prefix`, sharing declarations so a weight used twice is one input. */
  scoped(prefix: string): Params {
    return new Params(this.graph, this.prefix + prefix, this.declared);
  }
}

/** Shapes of every linear module of a layer: [out_features, in_features] as nn.Linear stores them. */
export function linearShapes(c: ModelConfig): Record<LayerLinear, [number, number]> {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return {
    "self_attn.q_proj": [q, c.hiddenSize],
    "self_attn.k_proj": [kv, c.hiddenSize],
    "self_attn.v_proj": [kv, c.hiddenSize],
    "self_attn.o_proj": [c.hiddenSize, q],
    "mlp.gate_proj": [c.intermediateSize, c.hiddenSize],
    "mlp.up_proj": [c.intermediateSize, c.hiddenSize],
    "mlp.down_proj": [c.hiddenSize, c.intermediateSize],
  };
}

/** y = x Wᵀ (+ b) (+ scaling · (x Aᵀ) Bᵀ for a LoRA module), as nn.Linear and PEFT's lora.Linear compute it. */
export function linear(
  p: Params,
  name: LayerLinear,
  x: Value,
  c: ModelConfig,
  opts: BuildOptions,
  bias: boolean,
): Value {
  const [outF, inF] = linearShapes(c)[name];
  const w = p.get(`${name}.weight`, [outF, inF], opts.matmulDtype);
  let y = cast(matmul(cast(x, opts.matmulDtype), transpose(w, [1, 0])), "float32");
  if (bias) y = add(y, p.get(`${name}.bias`, [outF]));
  const rank = opts.lora?.get(name);
  if (rank !== undefined) {
    const a = p.get(`${name}.lora_A.weight`, [rank, inF]);
    const b = p.get(`${name}.lora_B.weight`, [outF, rank]);
    const dropped = opts.loraDropout ? mul(x, p.get(`${name}.lora_dropout`, ["batch", "seq", inF])) : x;
    const delta = matmul(matmul(dropped, transpose(a, [1, 0])), transpose(b, [1, 0]));
    y = add(y, mul(delta, p.get("lora_scaling", [])));
  }
  return y;
}

/** LlamaRMSNorm: weight · x / sqrt(mean(x²) + eps). */
export function rmsNorm(x: Value, weight: Value, eps: number): Value {
  const variance = reduceMean(pow(x, 2), [-1]);
  return mul(weight, div(x, sqrt(add(variance, eps))));
}

/** OlmoLayerNorm: F.layer_norm without weight or bias. */
export function layerNormNoParams(x: Value, eps: number): Value {
  const centered = sub(x, reduceMean(x, [-1]));
  const variance = reduceMean(pow(centered, 2), [-1]);
  return div(centered, sqrt(add(variance, eps)));
}

/** rotate_half: cat(-x[..., d/2:], x[..., :d/2]). */
function rotateHalf(x: Value, headDim: number): Value {
  const x1 = slice(x, -1, 0, headDim / 2);
  const x2 = slice(x, -1, headDim / 2, headDim);
  return concat([neg(x2), x1], -1);
}

/** apply_rotary_pos_emb for one of q/k ([B, H, T, hd]) with cos/sin given as [B, T, hd]. */
export function applyRotary(x: Value, cos: Value, sin: Value, headDim: number): Value {
  const c = unsqueeze(cos, [1]);
  const s = unsqueeze(sin, [1]);
  return add(mul(x, c), mul(rotateHalf(x, headDim), s));
}

/** repeat_kv: [B, Hkv, S, hd] → [B, Hkv·nRep, S, hd]. */
export function repeatKv(x: Value, nRep: number, numKvHeads: number, headDim: number): Value {
  if (nRep === 1) return x;
  const expanded = expand(unsqueeze(x, [2]), [1, 1, nRep, 1, 1]);
  return reshape(expanded, [0, numKvHeads * nRep, -1, headDim]);
}

/** [B, T, H·hd] → [B, H, T, hd] */
function splitHeads(x: Value, heads: number, headDim: number): Value {
  return transpose(reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, H, T, hd] → [B, T, H·hd] */
function mergeHeads(x: Value, heads: number, headDim: number): Value {
  return reshape(transpose(x, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

export interface AttentionInputs {
  /** Additive mask [B, 1, T, S]: 0 where a query may attend a key, the most negative float elsewhere. */
  bias: Value;
  cos: Value;
  sin: Value;
  /** Cached keys/values [B, Hkv, P, hd] from earlier steps (generation). */
  past: { key: Value; value: Value } | null;
}

export interface AttentionOutput {
  out: Value;
  /** Keys/values including the past, before repeat_kv: what the cache stores. */
  key: Value;
  value: Value;
}

/** LlamaAttention / OlmoAttention / Qwen2Attention (eager path). */
export function selfAttention(
  p: Params,
  x: Value,
  ctx: AttentionInputs,
  c: ModelConfig,
  opts: BuildOptions,
): AttentionOutput {
  const { numHeads, numKvHeads, headDim } = c;
  let q = linear(p, "self_attn.q_proj", x, c, opts, c.qkvBias);
  let k = linear(p, "self_attn.k_proj", x, c, opts, c.qkvBias);
  let v = linear(p, "self_attn.v_proj", x, c, opts, c.qkvBias);
  if (c.clipQkv !== null) {
    q = clip(q, -c.clipQkv, c.clipQkv);
    k = clip(k, -c.clipQkv, c.clipQkv);
    v = clip(v, -c.clipQkv, c.clipQkv);
  }
  q = applyRotary(splitHeads(q, numHeads, headDim), ctx.cos, ctx.sin, headDim);
  k = applyRotary(splitHeads(k, numKvHeads, headDim), ctx.cos, ctx.sin, headDim);
  v = splitHeads(v, numKvHeads, headDim);
  if (ctx.past) {
    k = concat([ctx.past.key, k], 2);
    v = concat([ctx.past.value, v], 2);
  }
  const nRep = numHeads / numKvHeads;
  const keys = repeatKv(k, nRep, numKvHeads, headDim);
  const values = repeatKv(v, nRep, numKvHeads, headDim);
  const scores = add(mul(matmul(q, transpose(keys, [0, 1, 3, 2])), 1 / Math.sqrt(headDim)), ctx.bias);
  const probs = softmax(scores, -1);
  const attn = mergeHeads(matmul(probs, values), numHeads, headDim);
  return { out: linear(p, "self_attn.o_proj", attn, c, opts, c.oBias), key: k, value: v };
}

/** LlamaMLP: down_proj(silu(gate_proj(x)) · up_proj(x)). */
export function mlp(p: Params, x: Value, c: ModelConfig, opts: BuildOptions): Value {
  const gate = linear(p, "mlp.gate_proj", x, c, opts, c.mlpBias);
  const up = linear(p, "mlp.up_proj", x, c, opts, c.mlpBias);
  const silu = mul(gate, sigmoid(gate));
  return linear(p, "mlp.down_proj", mul(silu, up), c, opts, c.mlpBias);
}

/** The norm an architecture applies at `name` (a weight name prefix such as "input_layernorm"). */
export type NormFn = (p: Params, name: string, x: Value, c: ModelConfig) => Value;

export const rmsNormAt: NormFn = (p, name, x, c) =>
  rmsNorm(x, p.get(`${name}.weight`, [c.hiddenSize]), c.normEps);
export const layerNormNoParamsAt: NormFn = (_p, _name, x, c) => layerNormNoParams(x, c.normEps);

export interface DecoderLayerOutput {
  hidden: Value;
  key: Value;
  value: Value;
}

/** A pre-norm decoder layer: h = x + attn(norm(x)); out = h + mlp(norm(h)). */
export function decoderLayer(
  p: Params,
  norm: NormFn,
  x: Value,
  ctx: AttentionInputs,
  c: ModelConfig,
  opts: BuildOptions,
): DecoderLayerOutput {
  const attn = selfAttention(p, norm(p, "input_layernorm", x, c), ctx, c, opts);
  const h = add(x, attn.out);
  const out = add(h, mlp(p, norm(p, "post_attention_layernorm", h, c), c, opts));
  return { hidden: out, key: attn.key, value: attn.value };
}

export interface ArchitectureDefinition {
  norm: NormFn;
  /** Weight prefix of the final norm, or null when it has no parameters. */
  finalNorm: string | null;
  decoderLayer(
    p: Params,
    x: Value,
    ctx: AttentionInputs,
    c: ModelConfig,
    opts: BuildOptions,
  ): DecoderLayerOutput;
}
