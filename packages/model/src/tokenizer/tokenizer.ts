import { Tokenizer } from "@huggingface/tokenizers";

/** Token ids of a batch, left-padded to one length, with the attention mask (1 = real token, 0 = pad). */
export interface PaddedBatch {
  ids: number[][];
  attentionMask: number[][];
  /** Number of real tokens in each row. */
  lengths: number[];
}

export interface EncodeOptions {
  /** Let the post-processor add the tokenizer's special tokens (default true, as in Hugging Face). */
  addSpecialTokens?: boolean;
}

/**
 * A Hugging Face fast tokenizer (`tokenizer.json` + `tokenizer_config.json`) run by `@huggingface/tokenizers`,
 * with the ids Lethe's stages need (eos, pad) and left-padded batch encoding, as decoder-only generation
 * wants it.
 */
export class LetheTokenizer {
  readonly eosId: number;
  /** The pad token's id, or the eos id when the tokenizer has no pad token. */
  readonly padId: number;
  readonly bosId: number | null;
  /** One more than the largest id, added tokens included. */
  readonly vocabSize: number;

  private constructor(
    private readonly inner: Tokenizer,
    ids: { eos: number; pad: number; bos: number | null; vocabSize: number },
  ) {
    this.eosId = ids.eos;
    this.padId = ids.pad;
    this.bosId = ids.bos;
    this.vocabSize = ids.vocabSize;
  }

  /** `source` names the files in errors (a directory or URI). */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown, source = "tokenizer"): LetheTokenizer {
    if (!isObject(tokenizerJson)) throw new Error(`${source}/tokenizer.json: not a JSON object`);
    const config = isObject(tokenizerConfig) ? tokenizerConfig : {};
    const inner = new Tokenizer(tokenizerJson, config);
    const idOf = (field: string): number | null => {
      const value = config[field];
      const content = typeof value === "string" ? value : isObject(value) ? value["content"] : undefined;
      if (typeof content !== "string") return null;
      const id = inner.token_to_id(content);
      if (id === undefined)
        throw new Error(`${source}/tokenizer_config.json: ${field} "${content}" is not in the vocabulary`);
      return id;
    };
    const eos = idOf("eos_token");
    if (eos === null) throw new Error(`${source}/tokenizer_config.json: no eos_token`);
    let maxId = -1;
    for (const id of inner.get_vocab(true).values()) maxId = Math.max(maxId, id);
    return new LetheTokenizer(inner, {
      eos,
      pad: idOf("pad_token") ?? eos,
      bos: idOf("bos_token"),
      vocabSize: maxId + 1,
    });
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return "";
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The token strings of `text` (byte-level spelling), without special tokens added. */
  tokenize(text: string): string[] {
    return this.inner.tokenize(text);
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** Encode each text and left-pad the rows with `padId`. */
  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): PaddedBatch {
    return padLeft(
      texts.map((t) => this.encode(t, options)),
      this.padId,
    );
  }
}

/** Left-pad rows of ids to the longest row; the mask marks real tokens with 1. */
export function padLeft(rows: readonly (readonly number[])[], padId: number): PaddedBatch {
  const width = Math.max(0, ...rows.map((r) => r.length));
  const ids: number[][] = [];
  const attentionMask: number[][] = [];
  for (const row of rows) {
    const pad = width - row.length;
    ids.push([...new Array<number>(pad).fill(padId), ...row]);
    attentionMask.push([...new Array<number>(pad).fill(0), ...new Array<number>(row.length).fill(1)]);
  }
  return { ids, attentionMask, lengths: rows.map((r) => r.length) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
