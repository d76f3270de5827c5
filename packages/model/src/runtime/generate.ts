/**
 * Batched generation with left padding. With the KV cache (default), the prompt is run once through the
 * cache-taking layer graphs (past length 0) and each later step feeds one token per row, appending its keys and
 * values; without it, every step recomputes the whole sequence. Both paths build the same positions and
 * masks, so greedy decoding gives the same tokens. A row stops at an EOS token (not included in its output)
 * or after `maxNewTokens`; finished rows keep being fed (their outputs are ignored) until all are done.
 */
import * as ort from "onnxruntime-node";
import { embed, forwardPadded, head, type StepInputs, stepInputs } from "./forward.js";
import { leftPad, type TokenBatch } from "./inputs.js";
import type { Model } from "./model.js";
import { type SamplingOptions, SeededRandom, selectToken } from "./sampling.js";

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Token ids that end a row; default: the config's eos_token_id(s). */
  eosTokenIds?: readonly number[];
  /** Seed for sampling (temperature > 0); default 0. */
  seed?: number;
  /** Use the KV cache (default true); false recomputes the full sequence each step. */
  useCache?: boolean;
}

export interface Generation {
  /** New tokens, without the EOS that ended the row. */
  tokens: number[];
  finishReason: "eos" | "length";
}

interface LayerCache {
  key: ort.Tensor;
  value: ort.Tensor;
}

/** The last position of hidden [B, T, D] as [B, 1, D]. */
function lastPosition(hidden: ort.Tensor): ort.Tensor {
  const [b, t, d] = hidden.dims as [number, number, number];
  const src = hidden.data as Float32Array;
  const out = new Float32Array(b * d);
  for (let i = 0; i < b; i++) out.set(src.subarray((i * t + t - 1) * d, (i * t + t) * d), i * d);
  return new ort.Tensor("float32", out, [b, 1, d]);
}

/** One step through every layer with the cache: returns the last hidden state and updates `caches`. */
async function cachedLayers(
  model: Model,
  hidden: ort.Tensor,
  step: StepInputs,
  caches: LayerCache[],
): Promise<ort.Tensor> {
  for (let i = 0; i < model.config.numLayers; i++) {
    const g = await model.graph("layer", { layer: i, kvCache: true });
    const r = await g.session.run({
      hidden,
      attn_bias: step.bias,
      cos: step.cos,
      sin: step.sin,
      past_key: caches[i]!.key,
      past_value: caches[i]!.value,
      ...model.weights.layers[i]!.feeds,
    });
    caches[i] = { key: r["present_key"]!, value: r["present_value"]! };
    hidden = r["hidden_out"]!;
  }
  return hidden;
}

class Decoder {
  private readonly caches: LayerCache[] = [];
  /** [batch, keys] grows by one column per fed token. */
  private keyMask: Uint8Array;
  private keys: number;
  private fed = 0;

  constructor(
    private readonly model: Model,
    private readonly prompt: TokenBatch,
  ) {
    this.keyMask = prompt.mask;
    this.keys = prompt.seq;
    const { numKvHeads, headDim } = model.config;
    const empty = () =>
      new ort.Tensor("float32", new Float32Array(0), [prompt.batch, numKvHeads, 0, headDim]);
    for (let i = 0; i < model.config.numLayers; i++) this.caches.push({ key: empty(), value: empty() });
  }

  /** Logits [B, 1, V] for the next token after the prompt. */
  async prefill(): Promise<Float32Array> {
    const p = this.prompt;
    const step = stepInputs(this.model, p.batch, p.seq, p.mask, p.positions);
    const hidden = await cachedLayers(
      this.model,
      await embed(this.model, p.ids, p.batch, p.seq),
      step,
      this.caches,
    );
    return (await head(this.model, lastPosition(hidden))).data as Float32Array;
  }

  /** Feed one token per row; logits [B, 1, V] for the token after it. */
  async next(tokens: number[]): Promise<Float32Array> {
    const { batch, lengths } = this.prompt;
    const mask = new Uint8Array(batch * (this.keys + 1));
    for (let b = 0; b < batch; b++) {
      mask.set(this.keyMask.subarray(b * this.keys, (b + 1) * this.keys), b * (this.keys + 1));
      mask[b * (this.keys + 1) + this.keys] = 1;
    }
    this.keyMask = mask;
    this.keys++;
    const positions = Int32Array.from(lengths, (n) => n + this.fed);
    this.fed++;
    const step = stepInputs(this.model, batch, 1, mask, positions);
    const ids = BigInt64Array.from(tokens, (t) => BigInt(t));
    const hidden = await cachedLayers(this.model, await embed(this.model, ids, batch, 1), step, this.caches);
    return (await head(this.model, hidden)).data as Float32Array;
  }
}

class Recomputer {
  private readonly rows: number[][];

  constructor(
    private readonly model: Model,
    prompts: readonly (readonly number[])[],
  ) {
    this.rows = prompts.map((p) => [...p]);
  }

  private async lastLogits(): Promise<Float32Array> {
    const padded = leftPad(this.rows, this.model.padId, this.model.config.vocabSize);
    const r = await forwardPadded(this.model, padded);
    const V = this.model.config.vocabSize;
    const out = new Float32Array(padded.batch * V);
    for (let b = 0; b < padded.batch; b++) {
      const at = (b * padded.seq + padded.seq - 1) * V;
      out.set(r.logits!.subarray(at, at + V), b * V);
    }
    return out;
  }

  prefill(): Promise<Float32Array> {
    return this.lastLogits();
  }

  next(tokens: number[]): Promise<Float32Array> {
    tokens.forEach((t, b) => {
      this.rows[b]!.push(t);
    });
    return this.lastLogits();
  }
}

export async function generate(
  model: Model,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<Generation[]> {
  const V = model.config.vocabSize;
  const eos = new Set(opts.eosTokenIds ?? model.config.eosTokenIds);
  const rng = new SeededRandom(opts.seed ?? 0);
  const results: Generation[] = prompts.map(() => ({ tokens: [], finishReason: "length" }));
  if (opts.maxNewTokens <= 0) return results;
  const padded = leftPad(prompts, model.padId, V);
  const runner = (opts.useCache ?? true) ? new Decoder(model, padded) : new Recomputer(model, prompts);
  const done = prompts.map(() => false);

  let logits = await runner.prefill();
  for (let step = 0; ; step++) {
    const chosen = prompts.map((_, b) => (done[b] ? model.padId : selectToken(logits, b * V, V, opts, rng)));
    chosen.forEach((t, b) => {
      if (done[b]) return;
      if (eos.has(t)) {
        done[b] = true;
        results[b]!.finishReason = "eos";
      } else {
        results[b]!.tokens.push(t);
      }
    });
    if (step + 1 >= opts.maxNewTokens || done.every(Boolean)) break;
    logits = await runner.next(chosen);
  }
  return results;
}
