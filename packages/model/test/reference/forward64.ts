/**
 * A float64 reference forward pass for Llama, OLMo and Qwen2 decoder-only models, written as plain loops that
 * follow Hugging Face `transformers` (`modeling_llama.py`, `modeling_olmo.py`, `modeling_qwen2.py`,
 * `modeling_rope_utils.py`). It shares no code with the ONNX graph builder: tests compare the two.
 *
 * Conventions: weights use HF names, row-major; an `nn.Linear` weight is [out, in] and computes x·Wᵀ + b.
 * Rows of unequal length are left-padded; pads are masked out of attention, and position ids count from
 * each row's first real token (as `generate` derives them from the attention mask: cumsum(mask) − 1, pads 1).
 * A pad query attends only to itself, so its (meaningless) outputs stay finite.
 */

export type Weights = Map<string, Float32Array | Float64Array>;

export interface LoraModule {
  /** [r, in] */
  A: Float64Array;
  /** [out, r] */
  B: Float64Array;
}

export interface ReferenceOptions {
  /** LoRA on linear layers, keyed by HF module name ("model.layers.0.self_attn.q_proj"): y += s·B(A x). */
  lora?: { scaling: number; modules: Map<string, LoraModule> };
}

export interface ReferenceResult {
  /** Per row, [T, V] with T the padded length (pads first). */
  logits: Float64Array[];
  hidden: {
    /** Per row, the token embeddings [T, D]. */
    embed: Float64Array[];
    /** layers[l][row]: the residual stream after decoder layer l, before the final norm, [T, D]. */
    layers: Float64Array[][];
  };
  /** Left pads added to each row. */
  padding: number[];
  /** Per row, the position ids used for RoPE. */
  positionIds: number[][];
}

type Arch = "llama" | "olmo" | "qwen2";

interface Dims {
  arch: Arch;
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  rmsEps: number;
  clipQkv: number | null;
  tied: boolean;
  invFreq: Float64Array;
}

const OLMO_LAYER_NORM_EPS = 1e-5;

function num(config: Record<string, unknown>, key: string, fallback?: number): number {
  const v = config[key];
  if (typeof v === "number") return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw new Error(`config.json: "${key}" must be a number, got ${JSON.stringify(v)}`);
}

export function readDims(config: Record<string, unknown>): Dims {
  const arch = config["model_type"];
  if (arch !== "llama" && arch !== "olmo" && arch !== "qwen2") {
    throw new Error(`config.json: model_type ${JSON.stringify(arch)} is not llama, olmo or qwen2`);
  }
  const act = config["hidden_act"] ?? "silu";
  if (act !== "silu") throw new Error(`config.json: hidden_act "${act}" is not supported (only silu)`);
  const hidden = num(config, "hidden_size");
  const heads = num(config, "num_attention_heads");
  const headDim = num(config, "head_dim", hidden / heads);
  const clip = config["clip_qkv"];
  return {
    arch,
    vocab: num(config, "vocab_size"),
    hidden,
    layers: num(config, "num_hidden_layers"),
    heads,
    kvHeads: num(config, "num_key_value_heads", heads),
    headDim,
    intermediate: num(config, "intermediate_size"),
    rmsEps: num(config, "rms_norm_eps", 1e-6),
    clipQkv: arch === "olmo" && typeof clip === "number" ? clip : null,
    tied: config["tie_word_embeddings"] === true,
    invFreq: ropeInvFreq(config, headDim),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Building blocks

/** LlamaRMSNorm: w ⊙ x / sqrt(mean(x²) + eps). */
export function rmsNorm(x: ArrayLike<number>, weight: ArrayLike<number>, eps: number): Float64Array {
  let sumSq = 0;
  for (let i = 0; i < x.length; i++) sumSq += x[i]! * x[i]!;
  const inv = 1 / Math.sqrt(sumSq / x.length + eps);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = weight[i]! * x[i]! * inv;
  return out;
}

/** OlmoLayerNorm: (x − mean) / sqrt(var + eps) with the biased variance, no weight or bias. */
export function layerNorm(x: ArrayLike<number>, eps = OLMO_LAYER_NORM_EPS): Float64Array {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i]!;
  mean /= x.length;
  let variance = 0;
  for (let i = 0; i < x.length; i++) variance += (x[i]! - mean) ** 2;
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i]! - mean) * inv;
  return out;
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** Softmax of the entries where `allowed` is true; the others get probability 0. */
export function softmax(scores: ArrayLike<number>, allowed?: (j: number) => boolean): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < scores.length; j++) if ((!allowed || allowed(j)) && scores[j]! > max) max = scores[j]!;
  const out = new Float64Array(scores.length);
  let sum = 0;
  for (let j = 0; j < scores.length; j++) {
    if (allowed && !allowed(j)) continue;
    out[j] = Math.exp(scores[j]! - max);
    sum += out[j]!;
  }
  for (let j = 0; j < scores.length; j++) out[j]! /= sum;
  return out;
}

/**
 * RoPE inverse frequencies as `modeling_rope_utils` computes them: default 1/θ^(2i/d); `linear` divides by
 * `factor`; `llama3` divides low frequencies by `factor`, keeps high ones and blends the band in between.
 */
export function ropeInvFreq(config: Record<string, unknown>, headDim: number): Float64Array {
  const params = (config["rope_parameters"] ?? null) as Record<string, unknown> | null;
  const theta =
    typeof config["rope_theta"] === "number" ? config["rope_theta"] : num(params ?? {}, "rope_theta", 10000);
  const scaling = (config["rope_scaling"] ?? params ?? null) as Record<string, unknown> | null;
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  const type = scaling ? (scaling["rope_type"] ?? scaling["type"] ?? "default") : "default";
  if (type === "default") return inv;
  if (type === "linear") {
    const factor = num(scaling!, "factor");
    return inv.map((f) => f / factor);
  }
  if (type === "llama3") {
    const s = scaling!;
    const factor = num(s, "factor");
    const low = num(s, "low_freq_factor");
    const high = num(s, "high_freq_factor");
    const oldContext = num(s, "original_max_position_embeddings");
    const lowFreqWavelen = oldContext / low;
    const highFreqWavelen = oldContext / high;
    return inv.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highFreqWavelen) return f;
      if (wavelen > lowFreqWavelen) return f / factor;
      const smooth = (oldContext / wavelen - low) / (high - low);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
  }
  throw new Error(
    `config.json: rope scaling type "${String(type)}" is not supported (default, linear, llama3)`,
  );
}

/**
 * Rotate one head vector for position `pos`: q·cos + rotate_half(q)·sin with cos/sin = cat(freqs, freqs)
 * and rotate_half(q) = cat(−q₂, q₁), i.e. pairs (i, i + d/2) rotate by pos·invFreq[i].
 */
export function applyRope(vec: ArrayLike<number>, pos: number, invFreq: ArrayLike<number>): Float64Array {
  const d = vec.length;
  const half = d / 2;
  const out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i]!;
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const x1 = vec[i]!;
    const x2 = vec[i + half]!;
    out[i] = x1 * c - x2 * s;
    out[i + half] = x2 * c + x1 * s;
  }
  return out;
}

/** Position ids from a left-padded mask: cumsum(mask) − 1 on real tokens, 1 on pads (as HF generate). */
export function positionIdsFromMask(mask: readonly number[]): number[] {
  let seen = 0;
  return mask.map((m) => {
    if (m === 0) return 1;
    seen++;
    return seen - 1;
  });
}

// ---------------------------------------------------------------------------------------------------------
// The model

class Model {
  readonly d: Dims;
  constructor(
    readonly weights: Weights,
    config: Record<string, unknown>,
    readonly opts: ReferenceOptions,
  ) {
    this.d = readDims(config);
  }

  w(name: string, size: number): Float32Array | Float64Array {
    const t = this.weights.get(name);
    if (!t) throw new Error(`weights: missing tensor "${name}"`);
    if (t.length !== size) throw new Error(`weights: "${name}" has ${t.length} values, expected ${size}`);
    return t;
  }

  /** nn.Linear named `module`: x·Wᵀ (+ b when the checkpoint has one) (+ LoRA). */
  linear(module: string, x: Float64Array, inDim: number, outDim: number, requireBias = false): Float64Array {
    const W = this.w(`${module}.weight`, outDim * inDim);
    const bias = this.weights.has(`${module}.bias`) || requireBias ? this.w(`${module}.bias`, outDim) : null;
    const y = new Float64Array(outDim);
    for (let o = 0; o < outDim; o++) {
      let acc = bias ? bias[o]! : 0;
      const row = o * inDim;
      for (let i = 0; i < inDim; i++) acc += W[row + i]! * x[i]!;
      y[o] = acc;
    }
    const lora = this.opts.lora?.modules.get(module);
    if (lora) {
      const r = lora.A.length / inDim;
      if (!Number.isInteger(r) || lora.B.length !== outDim * r)
        throw new Error(`lora: bad shapes for ${module}`);
      const ax = new Float64Array(r);
      for (let k = 0; k < r; k++) {
        let acc = 0;
        for (let i = 0; i < inDim; i++) acc += lora.A[k * inDim + i]! * x[i]!;
        ax[k] = acc;
      }
      const s = this.opts.lora!.scaling;
      for (let o = 0; o < outDim; o++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += lora.B[o * r + k]! * ax[k]!;
        y[o]! += s * acc;
      }
    }
    return y;
  }

  norm(name: string | null, x: Float64Array): Float64Array {
    if (this.d.arch === "olmo") return layerNorm(x);
    return rmsNorm(x, this.w(name!, this.d.hidden), this.d.rmsEps);
  }

  /** One row (already padded): returns embeddings, per-layer residuals and logits, each [T × ·] flat. */
  forwardRow(ids: readonly number[], mask: readonly number[]) {
    const { d } = this;
    const T = ids.length;
    const D = d.hidden;
    const positions = positionIdsFromMask(mask);
    const embedW = this.w("model.embed_tokens.weight", d.vocab * D);
    const x: Float64Array[] = ids.map((id) => {
      if (!Number.isInteger(id) || id < 0 || id >= d.vocab)
        throw new Error(`token id ${id} outside [0, ${d.vocab})`);
      return Float64Array.from(embedW.subarray(id * D, (id + 1) * D));
    });
    const embed = flatten(x);
    const layers: Float64Array[] = [];
    for (let l = 0; l < d.layers; l++) {
      this.decoderLayer(l, x, mask, positions);
      layers.push(flatten(x));
    }
    const lmHead = this.weights.has("lm_head.weight") ? "lm_head" : d.tied ? "model.embed_tokens" : "lm_head";
    const logits = new Float64Array(T * d.vocab);
    for (let t = 0; t < T; t++) {
      const h = this.norm("model.norm.weight", x[t]!);
      logits.set(this.linear(lmHead, h, D, d.vocab), t * d.vocab);
    }
    return { embed, layers, logits, positions };
  }

  decoderLayer(l: number, x: Float64Array[], mask: readonly number[], positions: number[]): void {
    const { d } = this;
    const p = `model.layers.${l}`;
    const T = x.length;
    const D = d.hidden;
    const qDim = d.heads * d.headDim;
    const kvDim = d.kvHeads * d.headDim;
    const needsBias = d.arch === "qwen2";
    const clip = (v: Float64Array) => {
      if (d.clipQkv === null) return v;
      const c = d.clipQkv;
      return v.map((e) => Math.min(c, Math.max(-c, e)));
    };

    // Self-attention block.
    const q: Float64Array[] = [];
    const k: Float64Array[] = [];
    const v: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const h = this.norm(`${p}.input_layernorm.weight`, x[t]!);
      const qt = clip(this.linear(`${p}.self_attn.q_proj`, h, D, qDim, needsBias));
      const kt = clip(this.linear(`${p}.self_attn.k_proj`, h, D, kvDim, needsBias));
      const vt = clip(this.linear(`${p}.self_attn.v_proj`, h, D, kvDim, needsBias));
      for (let hd = 0; hd < d.heads; hd++) {
        const off = hd * d.headDim;
        qt.set(applyRope(qt.subarray(off, off + d.headDim), positions[t]!, d.invFreq), off);
      }
      for (let hd = 0; hd < d.kvHeads; hd++) {
        const off = hd * d.headDim;
        kt.set(applyRope(kt.subarray(off, off + d.headDim), positions[t]!, d.invFreq), off);
      }
      q.push(qt);
      k.push(kt);
      v.push(vt);
    }
    const scale = 1 / Math.sqrt(d.headDim);
    const group = d.heads / d.kvHeads;
    for (let t = 0; t < T; t++) {
      const allowed = (j: number) => (mask[t] === 0 ? j === t : j <= t && mask[j] === 1);
      const attnOut = new Float64Array(qDim);
      for (let hd = 0; hd < d.heads; hd++) {
        const kvh = Math.floor(hd / group);
        const qo = hd * d.headDim;
        const ko = kvh * d.headDim;
        const scores = new Float64Array(T);
        for (let j = 0; j < T; j++) {
          if (!allowed(j)) continue;
          let dot = 0;
          for (let e = 0; e < d.headDim; e++) dot += q[t]![qo + e]! * k[j]![ko + e]!;
          scores[j] = dot * scale;
        }
        const probs = softmax(scores, allowed);
        for (let j = 0; j < T; j++) {
          const pj = probs[j]!;
          if (pj === 0) continue;
          for (let e = 0; e < d.headDim; e++) attnOut[qo + e]! += pj * v[j]![ko + e]!;
        }
      }
      const o = this.linear(`${p}.self_attn.o_proj`, attnOut, qDim, D);
      for (let e = 0; e < D; e++) x[t]![e]! += o[e]!;
    }

    // MLP block (SwiGLU).
    const F = d.intermediate;
    for (let t = 0; t < T; t++) {
      const h = this.norm(`${p}.post_attention_layernorm.weight`, x[t]!);
      const gate = this.linear(`${p}.mlp.gate_proj`, h, D, F);
      const up = this.linear(`${p}.mlp.up_proj`, h, D, F);
      const act = new Float64Array(F);
      for (let f = 0; f < F; f++) act[f] = silu(gate[f]!) * up[f]!;
      const down = this.linear(`${p}.mlp.down_proj`, act, F, D);
      for (let e = 0; e < D; e++) x[t]![e]! += down[e]!;
    }
  }
}

function flatten(rows: Float64Array[]): Float64Array {
  const width = rows[0]?.length ?? 0;
  const out = new Float64Array(rows.length * width);
  rows.forEach((r, i) => {
    out.set(r, i * width);
  });
  return out;
}

/** Left-pad `ids` rows with `padId`, giving the padded rows, masks and pad counts. */
export function leftPad(ids: readonly (readonly number[])[], padId: number) {
  const T = Math.max(0, ...ids.map((r) => r.length));
  return ids.map((row) => {
    const pad = T - row.length;
    return {
      ids: [...new Array<number>(pad).fill(padId), ...row],
      mask: [...new Array<number>(pad).fill(0), ...new Array<number>(row.length).fill(1)],
      pad,
    };
  });
}

export function referenceForward(
  config: Record<string, unknown>,
  weights: Weights,
  ids: readonly (readonly number[])[],
  opts: ReferenceOptions = {},
): ReferenceResult {
  const model = new Model(weights, config, opts);
  const padId = typeof config["pad_token_id"] === "number" ? config["pad_token_id"] : 0;
  const rows = leftPad(ids, padId).map((r) => ({ ...r, out: model.forwardRow(r.ids, r.mask) }));
  return {
    logits: rows.map((r) => r.out.logits),
    hidden: {
      embed: rows.map((r) => r.out.embed),
      layers: Array.from({ length: model.d.layers }, (_, l) => rows.map((r) => r.out.layers[l]!)),
    },
    padding: rows.map((r) => r.pad),
    positionIds: rows.map((r) => r.out.positions),
  };
}

/** log softmax of one logits row. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/** Per row, log p(ids[t+1] | ids[..t]) for t = 0 .. len − 2 (the rows are batched with left padding). */
export function referenceLogProbs(
  config: Record<string, unknown>,
  weights: Weights,
  ids: readonly (readonly number[])[],
  opts: ReferenceOptions = {},
): number[][] {
  const { logits, padding } = referenceForward(config, weights, ids, opts);
  const V = num(config, "vocab_size");
  return ids.map((row, r) => {
    const out: number[] = [];
    for (let t = 0; t + 1 < row.length; t++) {
      const at = padding[r]! + t;
      out.push(logSoftmax(logits[r]!.subarray(at * V, (at + 1) * V))[row[t + 1]!]!);
    }
    return out;
  });
}

/** Index of the largest value; the first one on ties (as torch.argmax). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * Greedy decoding by full recomputation: each step runs the whole prefix again and appends the argmax.
 * Returns the new tokens of each row, stopping after `eosId` (included) or `maxNew` tokens.
 */
export function referenceGenerate(
  config: Record<string, unknown>,
  weights: Weights,
  ids: readonly (readonly number[])[],
  maxNew: number,
  eosId: number,
  opts: ReferenceOptions = {},
): number[][] {
  const V = num(config, "vocab_size");
  return ids.map((prompt) => {
    const seq = [...prompt];
    const generated: number[] = [];
    while (generated.length < maxNew) {
      const { logits } = referenceForward(config, weights, [seq], opts);
      const last = logits[0]!.subarray((seq.length - 1) * V, seq.length * V);
      const next = argmax(last);
      generated.push(next);
      seq.push(next);
      if (next === eosId) break;
    }
    return generated;
  });
}
