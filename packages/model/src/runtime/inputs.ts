/**
 * Host-side inputs of the graphs: left-padded token batches, position ids, the additive attention mask and
 * the RoPE cos/sin tables. Conventions follow Hugging Face `generate`: rows are left-padded, position ids
 * count from each row's first real token (pads get 1), pads are masked out as keys, and a pad query attends
 * only to itself so its (meaningless) outputs stay finite.
 */
import { FormatError } from "@lethe/core";
import type { ModelConfig } from "../config.js";

/** The additive mask value, as HF uses torch.finfo(float32).min. */
export const MASKED = -3.4028234663852886e38;

export interface TokenBatch {
  batch: number;
  seq: number;
  /** [batch, seq] token ids, pads first. */
  ids: BigInt64Array;
  /** [batch, seq] 1 for real tokens, 0 for pads. */
  mask: Uint8Array;
  /** [batch, seq] position ids. */
  positions: Int32Array;
  /** Real tokens per row. */
  lengths: number[];
}

export function leftPad(rows: readonly (readonly number[])[], padId: number, vocabSize: number): TokenBatch {
  if (rows.length === 0) throw new FormatError("input ids: the batch is empty");
  const seq = Math.max(...rows.map((r) => r.length));
  const batch = rows.length;
  const ids = new BigInt64Array(batch * seq).fill(BigInt(padId));
  const mask = new Uint8Array(batch * seq);
  const positions = new Int32Array(batch * seq).fill(1);
  rows.forEach((row, b) => {
    if (row.length === 0) throw new FormatError(`input ids: row ${b} is empty`);
    const pad = seq - row.length;
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new FormatError(`input ids: row ${b}, position ${t}: token ${id} is outside [0, ${vocabSize})`);
      }
      const k = b * seq + pad + t;
      ids[k] = BigInt(id);
      mask[k] = 1;
      positions[k] = t;
    });
  });
  return { batch, seq, ids, mask, positions, lengths: rows.map((r) => r.length) };
}

/**
 * The additive attention bias [batch, 1, queries, keys] for `queries` new tokens after `keys − queries`
 * cached ones. `keyMask` is [batch, keys] (1 = real token).
 */
export function attentionBias(
  keyMask: Uint8Array,
  batch: number,
  queries: number,
  keys: number,
): Float32Array {
  const bias = new Float32Array(batch * queries * keys).fill(MASKED);
  const past = keys - queries;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < queries; t++) {
      const q = past + t;
      const row = (b * queries + t) * keys;
      if (keyMask[b * keys + q] === 0) {
        bias[row + q] = 0;
        continue;
      }
      for (let j = 0; j <= q; j++) if (keyMask[b * keys + j] === 1) bias[row + j] = 0;
    }
  }
  return bias;
}

/**
 * RoPE inverse frequencies as transformers' modeling_rope_utils computes them: 1/θ^(2i/d), divided by
 * `factor` for linear scaling; for llama3 scaling, low frequencies are divided by `factor`, high ones kept
 * and the band between blended.
 */
export function inverseFrequencies(c: ModelConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
  const s = c.ropeScaling;
  if (!s) return inv;
  if (s.type === "linear") return inv.map((f) => f / s.factor);
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / s.factor;
    const smooth =
      (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** cos/sin tables [n, headDim] for each position: cat(freqs, freqs) with freqs = position · invFreq. */
export function ropeTables(
  positions: Int32Array,
  invFreq: Float64Array,
): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const d = half * 2;
  const cos = new Float32Array(positions.length * d);
  const sin = new Float32Array(positions.length * d);
  positions.forEach((pos, n) => {
    for (let i = 0; i < half; i++) {
      const angle = pos * invFreq[i]!;
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[n * d + i] = c;
      cos[n * d + half + i] = c;
      sin[n * d + i] = s;
      sin[n * d + half + i] = s;
    }
  });
  return { cos, sin };
}
