/**
 * The loss head (final norm → lm_head → log-softmax → per-token statistics) and its gradient, run a few rows at
 * a time: its [rows, seq, V] tensors are the largest of a step (262 MB each for 8 × 256 rows of a 32k vocabulary),
 * and the head's FLOPs do not depend on how the rows are grouped.
 */
import { type ModelConfig, ort, type SessionCache } from "@lethe/model";
import { NO_LORA, pick } from "./feeds.js";

/** By default at most this many values in one [rows, seq, V] tensor of the head (64 MiB of f32). */
export const HEAD_CHUNK_VALUES = 16 * 2 ** 20;

export interface HeadInputs {
  batch: number;
  seq: number;
  /** [batch, seq, D] the residual stream after the last layer. */
  hidden: Float32Array;
  /** [batch, seq] */
  labels: BigInt64Array;
  /** [batch, seq, V] reference log-probs, for KL. */
  refLogprobs: Float32Array | undefined;
  /** The head's weights (`lm_head.weight`, `model.norm.weight`) as the graphs name them. */
  weights: Record<string, ort.Tensor>;
  /** Rows run together keep one [rows, seq, V] tensor under this many values (at least one row). */
  chunkValues: number;
}

export interface HeadStatistics {
  tokenLogprobs: Float32Array;
  kl: Float32Array | null;
  logprobs: Float32Array | null;
}

export async function headStatistics(
  sessions: SessionCache,
  config: ModelConfig,
  inputs: HeadInputs,
  wantLogprobs: boolean,
): Promise<HeadStatistics> {
  const { batch, seq } = inputs;
  const V = config.vocabSize;
  const kl = !!inputs.refLogprobs;
  const g = await sessions.get({
    kind: "loss_head",
    config,
    options: NO_LORA,
    training: { trainable: [], inputGrad: false, kl, logprobs: wantLogprobs, statistics: false },
  });
  const out = emptyStatistics(batch * seq, V, kl, wantLogprobs);
  for (const [r0, r1] of rowChunks(batch, seq, V, inputs.chunkValues)) {
    const r = await g.session.run(pick(g.session, chunkFeeds(config, inputs, r0, r1)));
    storeStatistics(out, r, r0 * seq, V);
  }
  return out;
}

/**
 * The head's backward pass for cotangents of its statistics: calls `onGradients` with each chunk's parameter
 * gradients (to accumulate) and returns ∂L/∂hidden [batch, seq, D] when `inputGrad`, and with `statistics` the
 * statistics of the forward pass it recomputes (what `headStatistics` would have returned, from the same run).
 */
export async function headGradient(
  sessions: SessionCache,
  config: ModelConfig,
  inputs: HeadInputs,
  cot: { tokenLogprobs: Float32Array; kl: Float32Array | undefined },
  opts: { trainable: string[]; inputGrad: boolean; statistics: boolean },
  onGradients: (out: Record<string, ort.Tensor>) => void,
): Promise<{ gradHidden: Float32Array | null; statistics: HeadStatistics | null }> {
  const { batch, seq } = inputs;
  const D = config.hiddenSize;
  const kl = !!inputs.refLogprobs;
  const g = await sessions.get({
    kind: "loss_head_grad",
    config,
    options: NO_LORA,
    training: { ...opts, kl, logprobs: false },
  });
  const gradHidden = opts.inputGrad ? new Float32Array(batch * seq * D) : null;
  const statistics = opts.statistics ? emptyStatistics(batch * seq, config.vocabSize, kl, false) : null;
  for (const [r0, r1] of rowChunks(batch, seq, config.vocabSize, inputs.chunkValues)) {
    const feeds = chunkFeeds(config, inputs, r0, r1);
    const rows = r1 - r0;
    feeds["grad.token_logprobs"] = new ort.Tensor("float32", cot.tokenLogprobs.subarray(r0 * seq, r1 * seq), [
      rows,
      seq,
    ]);
    if (cot.kl)
      feeds["grad.kl"] = new ort.Tensor("float32", cot.kl.subarray(r0 * seq, r1 * seq), [rows, seq]);
    const out = await g.session.run(pick(g.session, feeds));
    onGradients(out);
    gradHidden?.set(out["grad.hidden"]!.data as Float32Array, r0 * seq * D);
    if (statistics) storeStatistics(statistics, out, r0 * seq, config.vocabSize);
  }
  return { gradHidden, statistics };
}

function emptyStatistics(positions: number, vocab: number, kl: boolean, logprobs: boolean): HeadStatistics {
  return {
    tokenLogprobs: new Float32Array(positions),
    kl: kl ? new Float32Array(positions) : null,
    logprobs: logprobs ? new Float32Array(positions * vocab) : null,
  };
}

/** Copy one chunk's statistics (its rows start at flat position `at`) into the whole batch's. */
function storeStatistics(
  into: HeadStatistics,
  out: Record<string, ort.Tensor>,
  at: number,
  vocab: number,
): void {
  into.tokenLogprobs.set(out["token_logprobs"]!.data as Float32Array, at);
  into.kl?.set(out["kl"]!.data as Float32Array, at);
  into.logprobs?.set(out["logprobs"]!.data as Float32Array, at * vocab);
}

function rowChunks(batch: number, seq: number, vocab: number, chunkValues: number): [number, number][] {
  const rows = Math.max(1, Math.min(batch, Math.floor(chunkValues / (seq * vocab))));
  const out: [number, number][] = [];
  for (let r0 = 0; r0 < batch; r0 += rows) out.push([r0, Math.min(batch, r0 + rows)]);
  return out;
}

function chunkFeeds(config: ModelConfig, x: HeadInputs, r0: number, r1: number): Record<string, ort.Tensor> {
  const { seq } = x;
  const rows = r1 - r0;
  const D = config.hiddenSize;
  const V = config.vocabSize;
  const feeds: Record<string, ort.Tensor> = {
    ...x.weights,
    hidden: new ort.Tensor("float32", x.hidden.subarray(r0 * seq * D, r1 * seq * D), [rows, seq, D]),
    labels: new ort.Tensor("int64", x.labels.subarray(r0 * seq, r1 * seq), [rows, seq]),
  };
  if (x.refLogprobs) {
    feeds["ref_logprobs"] = new ort.Tensor("float32", x.refLogprobs.subarray(r0 * seq * V, r1 * seq * V), [
      rows,
      seq,
      V,
    ]);
  }
  return feeds;
}
