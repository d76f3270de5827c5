import { openStore } from "@lethe/core";
import {
  forward,
  generate,
  head,
  type LetheTokenizer,
  type LoadModelOptions,
  loadModel,
  loadTokenizer,
  type Model,
  ort,
  score,
} from "@lethe/model";
import type { EvalModel, TextHiddenStates } from "./eval-model.js";

/**
 * Hugging Face's `clean_up_tokenization` (what `decode(..., clean_up_tokenization_spaces=True)` applies once):
 * removes the space before . ? ! , and English contractions.
 */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

export interface LoadEvalModelOptions extends Omit<LoadModelOptions, "adapter"> {
  /** URI of a PEFT LoRA adapter applied on top of the checkpoint. */
  adapter?: string;
}

/** An `@lethe/model` model and its tokenizer behind the evaluator's interface. */
export class LetheEvalModel implements EvalModel {
  generatedTokens = 0;

  private constructor(
    readonly model: Model,
    readonly tokenizer: LetheTokenizer,
    /** Whether the tokenizer's own decode already cleans up spaces (tokenizer_config default: true). */
    private readonly decoderCleansUp: boolean,
  ) {}

  /** Load a checkpoint (path, file:// or s3:// URI), its tokenizer and optionally an adapter. */
  static async load(uri: string, options: LoadEvalModelOptions = {}): Promise<LetheEvalModel> {
    const { adapter, ...rest } = options;
    const model = await loadModel(uri, { ...rest, ...(adapter !== undefined ? { adapter } : {}) });
    const tokenizer = await loadTokenizer(uri);
    const config = await readTokenizerConfig(uri);
    return new LetheEvalModel(model, tokenizer, config["clean_up_tokenization_spaces"] !== false);
  }

  static fromParts(model: Model, tokenizer: LetheTokenizer, decoderCleansUp = true): LetheEvalModel {
    return new LetheEvalModel(model, tokenizer, decoderCleansUp);
  }

  get numLayers(): number {
    return this.model.config.numLayers;
  }

  tokenize(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens ?? true });
  }

  async generate(prompts: readonly string[], options: { maxNewTokens: number }): Promise<string[]> {
    const rows = prompts.map((p) => this.tokenize(p));
    const out = await generate(this.model, rows, { maxNewTokens: options.maxNewTokens });
    return out.map((g) => {
      this.generatedTokens += g.tokens.length;
      const text = this.tokenizer.decode(g.tokens, { skipSpecialTokens: true });
      // The official script asks for the clean-up explicitly; apply it here if the tokenizer would not.
      return this.decoderCleansUp ? text : cleanUpTokenization(text);
    });
  }

  async meanNll(texts: readonly string[]): Promise<number[]> {
    const result = await score(
      this.model,
      texts.map((t) => this.tokenize(t)),
    );
    return result.rowLoss;
  }

  async nextTokenLogProbs(prompts: readonly string[], candidateIds: readonly number[]): Promise<number[][]> {
    const rows = prompts.map((p) => this.tokenize(p));
    const { batch, seq, hidden } = await forward(this.model, rows, { logits: false, hidden: true });
    const d = this.model.config.hiddenSize;
    const last = hidden!.get(`layer.${this.numLayers - 1}`)!;
    // Left padding: every row's last token is at position seq − 1; only that position goes through the head.
    const lastPositions = new Float32Array(batch * d);
    for (let b = 0; b < batch; b++)
      lastPositions.set(last.subarray((b * seq + seq - 1) * d, (b * seq + seq) * d), b * d);
    const logits = (await head(this.model, new ort.Tensor("float32", lastPositions, [batch, 1, d])))
      .data as Float32Array;
    const vocab = logits.length / batch;
    return rows.map((_, b) => {
      const row = logits.subarray(b * vocab, (b + 1) * vocab);
      let max = Number.NEGATIVE_INFINITY;
      for (const v of row) if (v > max) max = v;
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      const logZ = max + Math.log(sum);
      return candidateIds.map((id) => row[id]! - logZ);
    });
  }

  async hiddenStates(texts: readonly string[]): Promise<TextHiddenStates[]> {
    const rows = texts.map((t) => this.tokenize(t));
    const { seq, hidden } = await forward(this.model, rows, { logits: false, hidden: true });
    const d = this.model.config.hiddenSize;
    return rows.map((row, b) => {
      const pad = seq - row.length;
      const layers: Float32Array[] = [];
      for (let l = 0; l < this.numLayers; l++) {
        const all = hidden!.get(`layer.${l}`)!;
        layers.push(all.slice((b * seq + pad) * d, (b + 1) * seq * d));
      }
      return { tokens: row.length, hidden: d, layers };
    });
  }
}

async function readTokenizerConfig(uri: string): Promise<Record<string, unknown>> {
  const store = openStore(uri);
  if ((await store.head("tokenizer_config.json")) === null) return {};
  const value: unknown = JSON.parse(new TextDecoder().decode(await store.get("tokenizer_config.json")));
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
}
