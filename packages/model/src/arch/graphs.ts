/**
 * The graphs the runtime compiles: embedding, one decoder layer (with or without a KV cache), the head
 * (final norm + lm_head, or per-token log-probs), and the whole model in one graph. Each comes with a key that
 * names everything its structure depends on; checkpoints whose configs give equal keys share one session.
 *
 * Graph inputs and outputs (dims: batch, seq, past):
 * - embed:  input_ids int64 [batch, seq], model.embed_tokens.weight → hidden [batch, seq, D]
 * - layer:  hidden [batch, seq, D], attn_bias [batch, 1, seq, S], cos/sin [batch, seq, hd], layer weights
 *           (`self_attn.q_proj.weight`, ...), with kvCache also past_key/past_value [batch, Hkv, past, hd]
 *           → hidden_out (+ present_key/present_value [batch, Hkv, S, hd]); S = seq, or past+seq with a cache
 * - head:   hidden, model.norm.weight (RMSNorm archs), lm_head.weight → logits [batch, seq, V]
 * - logprobs: like head plus labels int64 [batch, seq] → token_logprobs [batch, seq] = log softmax(logits)[label]
 * - model:  input_ids, attn_bias, cos, sin, every weight by its checkpoint name → logits (+ hidden.embed,
 *           hidden.layer.{i})
 */
import type { ModelConfig } from "../config.js";
import { Graph, type Value } from "../graph/ir.js";
import {
  cast,
  gather,
  gatherElements,
  logSoftmax,
  matmul,
  squeeze,
  transpose,
  unsqueeze,
} from "../graph/ops.js";
import {
  type ArchitectureDefinition,
  type AttentionInputs,
  type BuildOptions,
  type LayerLinear,
  layerNormNoParams,
  linearShapes,
  Params,
  rmsNorm,
} from "./common.js";
import { llama } from "./llama.js";
import { olmo } from "./olmo.js";
import { qwen2 } from "./qwen2.js";

export const ARCHITECTURES: Record<ModelConfig["architecture"], ArchitectureDefinition> = {
  llama,
  olmo,
  qwen2,
};

export const EMBED_WEIGHT = "model.embed_tokens.weight";
export const LM_HEAD_WEIGHT = "lm_head.weight";
export const FINAL_NORM_WEIGHT = "model.norm.weight";

export function layerPrefix(i: number): string {
  return `model.layers.${i}.`;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Linear weights follow the MatMul dtype; norms and biases stay float32. */
  matmul: boolean;
}

/** Tensors of one decoder layer, named relative to `model.layers.{i}.` */
export function layerParams(c: ModelConfig): ParamSpec[] {
  const out: ParamSpec[] = [];
  if (c.norm === "rms") {
    out.push({ name: "input_layernorm.weight", shape: [c.hiddenSize], matmul: false });
    out.push({ name: "post_attention_layernorm.weight", shape: [c.hiddenSize], matmul: false });
  }
  for (const [name, shape] of Object.entries(linearShapes(c)) as [LayerLinear, [number, number]][]) {
    out.push({ name: `${name}.weight`, shape, matmul: true });
    const attn = name.startsWith("self_attn.");
    const bias = name === "self_attn.o_proj" ? c.oBias : attn ? c.qkvBias : c.mlpBias;
    if (bias) out.push({ name: `${name}.bias`, shape: [shape[0]], matmul: false });
  }
  return out;
}

/** Tensors outside the layers, by checkpoint name (lm_head only when untied). */
export function globalParams(c: ModelConfig): ParamSpec[] {
  const out: ParamSpec[] = [{ name: EMBED_WEIGHT, shape: [c.vocabSize, c.hiddenSize], matmul: true }];
  if (c.norm === "rms") out.push({ name: FINAL_NORM_WEIGHT, shape: [c.hiddenSize], matmul: false });
  if (!c.tieWordEmbeddings)
    out.push({ name: LM_HEAD_WEIGHT, shape: [c.vocabSize, c.hiddenSize], matmul: true });
  return out;
}

function structure(c: ModelConfig): Record<string, unknown> {
  return {
    arch: c.architecture,
    D: c.hiddenSize,
    I: c.intermediateSize,
    H: c.numHeads,
    Hkv: c.numKvHeads,
    hd: c.headDim,
    norm: c.norm,
    eps: c.normEps,
    qkvBias: c.qkvBias,
    oBias: c.oBias,
    mlpBias: c.mlpBias,
    clip: c.clipQkv,
  };
}

export type GraphKind =
  | "embed"
  | "layer"
  | "head"
  | "logprobs"
  | "model"
  | "loss_head"
  | "loss_head_grad"
  | "layer_grad"
  | "embed_grad";

/** What a training graph computes (see training-graphs.ts). */
export interface TrainingGraphOptions {
  /** Graph inputs whose gradients are outputs, by their name in the graph (`mlp.down_proj.weight`). */
  trainable: readonly string[];
  /** Also output the gradient with respect to the graph's `hidden` input. */
  inputGrad: boolean;
  /** Loss head: also take `ref_logprobs` [batch, seq, V] and output `kl` [batch, seq]. */
  kl: boolean;
  /** Loss head: also output the full `logprobs` [batch, seq, V] (a reference pass for KL). */
  logprobs: boolean;
  /**
   * Loss head gradient: also output the statistics (`token_logprobs`, with `kl` also `kl`) of the forward pass it
   * recomputes, so a loss whose cotangents are known before the forward needs no separate head forward.
   */
  statistics: boolean;
}

export interface GraphRequest {
  kind: GraphKind;
  config: ModelConfig;
  options: BuildOptions;
  /** Layer graphs: take past keys/values and return the present ones. */
  kvCache?: boolean;
  /** Model graph: also output the residual stream after the embedding and every layer. */
  hidden?: boolean;
  /** Training graphs: what to differentiate and output. */
  training?: TrainingGraphOptions;
}

/** Everything the graph's structure depends on, and nothing else (no weights, no batch shape). */
export function graphKey(req: GraphRequest): string {
  const c = req.config;
  const dtype = req.options.matmulDtype;
  const lora = req.options.lora ? [...req.options.lora.entries()].sort() : null;
  const dropout = req.options.loraDropout ?? false;
  const t = req.training;
  const training = t ? { ...t, trainable: [...t.trainable].sort() } : null;
  switch (req.kind) {
    case "embed":
      return JSON.stringify({ kind: "embed", V: c.vocabSize, D: c.hiddenSize, dtype });
    case "head":
    case "logprobs":
    case "loss_head":
    case "loss_head_grad":
      return JSON.stringify({
        kind: req.kind,
        V: c.vocabSize,
        D: c.hiddenSize,
        norm: c.norm,
        eps: c.normEps,
        dtype,
        ...(training ? { training } : {}),
      });
    case "layer":
      return JSON.stringify({
        kind: "layer",
        ...structure(c),
        dtype,
        lora,
        dropout,
        kv: req.kvCache ?? false,
      });
    case "model":
      return JSON.stringify({
        kind: "model",
        ...structure(c),
        V: c.vocabSize,
        L: c.numLayers,
        tied: c.tieWordEmbeddings,
        dtype,
        lora,
        hidden: req.hidden ?? false,
      });
    case "layer_grad":
      return JSON.stringify({ kind: "layer_grad", ...structure(c), dtype, lora, dropout, training });
    case "embed_grad":
      return JSON.stringify({ kind: "embed_grad", V: c.vocabSize, D: c.hiddenSize, dtype });
  }
}

export function embedTokens(p: Params, ids: Value, c: ModelConfig, opts: BuildOptions): Value {
  const table = p.get(EMBED_WEIGHT, [c.vocabSize, c.hiddenSize], opts.matmulDtype);
  return cast(gather(table, ids, 0), "float32");
}

export function finalNorm(p: Params, x: Value, c: ModelConfig): Value {
  return c.norm === "rms"
    ? rmsNorm(x, p.get(FINAL_NORM_WEIGHT, [c.hiddenSize]), c.normEps)
    : layerNormNoParams(x, c.normEps);
}

export function lmHead(p: Params, x: Value, c: ModelConfig, opts: BuildOptions, name: string): Value {
  const w = p.get(name, [c.vocabSize, c.hiddenSize], opts.matmulDtype);
  return cast(matmul(cast(x, opts.matmulDtype), transpose(w, [1, 0])), "float32");
}

export function buildEmbedGraph(c: ModelConfig, opts: BuildOptions): Graph {
  const g = new Graph("embed");
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  g.output(embedTokens(new Params(g), ids, c, opts), "hidden");
  return g;
}

function attentionInputs(g: Graph, c: ModelConfig, keyLength: string): Omit<AttentionInputs, "past"> {
  return {
    bias: g.input("attn_bias", "float32", ["batch", 1, "seq", keyLength]),
    cos: g.input("cos", "float32", ["batch", "seq", c.headDim]),
    sin: g.input("sin", "float32", ["batch", "seq", c.headDim]),
  };
}

export function buildLayerGraph(c: ModelConfig, opts: BuildOptions, kvCache: boolean): Graph {
  const g = new Graph(kvCache ? "decoder_layer_kv" : "decoder_layer");
  const hidden = g.input("hidden", "float32", ["batch", "seq", c.hiddenSize]);
  const ctx = attentionInputs(g, c, kvCache ? "past+seq" : "seq");
  const past = kvCache
    ? {
        key: g.input("past_key", "float32", ["batch", c.numKvHeads, "past", c.headDim]),
        value: g.input("past_value", "float32", ["batch", c.numKvHeads, "past", c.headDim]),
      }
    : null;
  const out = ARCHITECTURES[c.architecture].decoderLayer(new Params(g), hidden, { ...ctx, past }, c, opts);
  g.output(out.hidden, "hidden_out");
  if (kvCache) {
    g.output(out.key, "present_key");
    g.output(out.value, "present_value");
  }
  return g;
}

export function buildHeadGraph(c: ModelConfig, opts: BuildOptions, logprobs: boolean): Graph {
  const g = new Graph(logprobs ? "logprobs" : "head");
  const p = new Params(g);
  const hidden = g.input("hidden", "float32", ["batch", "seq", c.hiddenSize]);
  const logits = lmHead(p, finalNorm(p, hidden, c), c, opts, LM_HEAD_WEIGHT);
  if (!logprobs) {
    g.output(logits, "logits");
    return g;
  }
  const labels = g.input("labels", "int64", ["batch", "seq"]);
  const picked = gatherElements(logSoftmax(logits, -1), unsqueeze(labels, [2]), 2);
  g.output(squeeze(picked, [2]), "token_logprobs");
  return g;
}

export function buildModelGraph(c: ModelConfig, opts: BuildOptions, hiddenOutputs: boolean): Graph {
  const g = new Graph("model");
  const p = new Params(g);
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  const ctx = attentionInputs(g, c, "seq");
  let h = embedTokens(p, ids, c, opts);
  if (hiddenOutputs) h = g.output(h, "hidden.embed");
  const arch = ARCHITECTURES[c.architecture];
  for (let i = 0; i < c.numLayers; i++) {
    h = arch.decoderLayer(p.scoped(layerPrefix(i)), h, { ...ctx, past: null }, c, opts).hidden;
    if (hiddenOutputs) h = g.output(h, `hidden.layer.${i}`);
  }
  const headName = c.tieWordEmbeddings ? EMBED_WEIGHT : LM_HEAD_WEIGHT;
  g.output(lmHead(p, finalNorm(p, h, c), c, opts, headName), "logits");
  return g;
}
