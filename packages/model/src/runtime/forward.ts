/**
 * The forward pass: embed → decoder layers one at a time → head, with the residual stream after the embedding
 * and after every layer available (before the final norm). Rows of unequal length are left-padded.
 * `graph: "model"` runs the same computation as one whole-model graph instead (for comparison; the per-layer
 * path is the one the trainer builds on).
 */
import * as ort from "onnxruntime-node";
import { layerPrefix } from "../arch/graphs.js";
import { attentionBias, leftPad, ropeTables, type TokenBatch } from "./inputs.js";
import type { Model } from "./model.js";

export interface ForwardOptions {
  /** Return logits [batch, seq, vocab]; default true. */
  logits?: boolean;
  /** Return the residual stream: `embed` and `layer.{i}`, each [batch, seq, hidden]; default false. */
  hidden?: boolean;
  /** "layers" (default): one graph per layer; "model": one whole-model graph. */
  graph?: "layers" | "model";
  /**
   * Run decoder layers 0..n only and skip the head (no logits): what RMU needs for the residual stream at
   * layer n. Per-layer graphs only.
   */
  stopAfterLayer?: number;
}

export interface ForwardResult {
  batch: number;
  seq: number;
  /** [batch, seq], 1 for real tokens, 0 for left padding. */
  mask: Uint8Array;
  lengths: number[];
  logits: Float32Array | null;
  hidden: Map<string, Float32Array> | null;
}

export interface StepInputs {
  bias: ort.Tensor;
  cos: ort.Tensor;
  sin: ort.Tensor;
}

/** Attention bias and RoPE tables for `queries` new tokens of a batch whose keys are `keyMask` [batch, keys]. */
export function stepInputs(
  model: Model,
  batch: number,
  queries: number,
  keyMask: Uint8Array,
  positions: Int32Array,
): StepInputs {
  const keys = keyMask.length / batch;
  const { cos, sin } = ropeTables(positions, model.invFreq);
  const d = model.config.headDim;
  return {
    bias: new ort.Tensor("float32", attentionBias(keyMask, batch, queries, keys), [batch, 1, queries, keys]),
    cos: new ort.Tensor("float32", cos, [batch, queries, d]),
    sin: new ort.Tensor("float32", sin, [batch, queries, d]),
  };
}

export async function embed(
  model: Model,
  ids: BigInt64Array,
  batch: number,
  seq: number,
): Promise<ort.Tensor> {
  const g = await model.graph("embed");
  const r = await g.session.run({
    input_ids: new ort.Tensor("int64", ids, [batch, seq]),
    "model.embed_tokens.weight": model.weights.embed,
  });
  return r["hidden"]!;
}

/** Run decoder layers 0..count−1 (default all) on `hidden`; `onLayer` sees each layer's output. */
export async function decoderLayers(
  model: Model,
  hidden: ort.Tensor,
  step: StepInputs,
  onLayer?: (i: number, out: ort.Tensor) => void,
  count = model.config.numLayers,
): Promise<ort.Tensor> {
  for (let i = 0; i < count; i++) {
    const g = await model.graph("layer", { layer: i });
    const r = await g.session.run({
      hidden,
      attn_bias: step.bias,
      cos: step.cos,
      sin: step.sin,
      ...model.weights.layers[i]!.feeds,
    });
    hidden = r["hidden_out"]!;
    onLayer?.(i, hidden);
  }
  return hidden;
}

export async function head(model: Model, hidden: ort.Tensor): Promise<ort.Tensor> {
  const g = await model.graph("head");
  const feeds: Record<string, ort.Tensor> = { hidden, "lm_head.weight": model.weights.lmHead };
  if (model.weights.finalNorm) feeds["model.norm.weight"] = model.weights.finalNorm;
  return (await g.session.run(feeds))["logits"]!;
}

export async function forwardPadded(
  model: Model,
  padded: TokenBatch,
  opts: ForwardOptions = {},
): Promise<ForwardResult> {
  const { batch, seq } = padded;
  const step = stepInputs(model, batch, seq, padded.mask, padded.positions);
  const result: ForwardResult = {
    batch,
    seq,
    mask: padded.mask,
    lengths: padded.lengths,
    logits: null,
    hidden: opts.hidden ? new Map() : null,
  };
  const stop = opts.stopAfterLayer;
  if (stop !== undefined && !(Number.isInteger(stop) && stop >= 0 && stop < model.config.numLayers)) {
    throw new RangeError(
      `stopAfterLayer ${stop} is not a layer index (the model has ${model.config.numLayers} layers)`,
    );
  }
  if (opts.graph === "model") {
    if (stop !== undefined) throw new Error("stopAfterLayer needs the per-layer graphs");
    return forwardWholeModel(model, padded, step, opts, result);
  }

  let hidden = await embed(model, padded.ids, batch, seq);
  result.hidden?.set("embed", hidden.data as Float32Array);
  const count = stop === undefined ? model.config.numLayers : stop + 1;
  const keep = (i: number, out: ort.Tensor) => result.hidden?.set(`layer.${i}`, out.data as Float32Array);
  hidden = await decoderLayers(model, hidden, step, keep, count);
  if ((opts.logits ?? true) && stop === undefined)
    result.logits = (await head(model, hidden)).data as Float32Array;
  return result;
}

async function forwardWholeModel(
  model: Model,
  padded: TokenBatch,
  step: StepInputs,
  opts: ForwardOptions,
  result: ForwardResult,
): Promise<ForwardResult> {
  const g = await model.graph("model", { hidden: opts.hidden ?? false });
  const w = model.weights;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", padded.ids, [padded.batch, padded.seq]),
    attn_bias: step.bias,
    cos: step.cos,
    sin: step.sin,
    "model.embed_tokens.weight": w.embed,
  };
  if (!model.config.tieWordEmbeddings) feeds["lm_head.weight"] = w.lmHead;
  if (w.finalNorm) feeds["model.norm.weight"] = w.finalNorm;
  w.layers.forEach((layer, i) => {
    for (const [name, t] of Object.entries(layer.feeds)) feeds[layerPrefix(i) + name] = t;
  });
  const r = await g.session.run(feeds);
  result.logits = r["logits"]!.data as Float32Array;
  if (result.hidden) {
    result.hidden.set("embed", r["hidden.embed"]!.data as Float32Array);
    for (let i = 0; i < model.config.numLayers; i++) {
      result.hidden.set(`layer.${i}`, r[`hidden.layer.${i}`]!.data as Float32Array);
    }
  }
  return result;
}

/** Forward a batch of token id rows (left-padded to the longest). */
export async function forward(
  model: Model,
  rows: readonly (readonly number[])[],
  opts: ForwardOptions = {},
): Promise<ForwardResult> {
  return forwardPadded(model, leftPad(rows, model.padId, model.config.vocabSize), opts);
}
