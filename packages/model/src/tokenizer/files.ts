/**
 * The three Hugging Face tokenizer files of a GPT-NeoX-style byte-level BPE: `tokenizer.json` (the fast
 * tokenizer: model, pre-tokenizer, post-processor, decoder, added tokens), `tokenizer_config.json` and
 * `special_tokens_map.json`.
 */

export interface TokenizerFiles {
  "tokenizer.json": TokenizerJson;
  "tokenizer_config.json": Record<string, unknown>;
  "special_tokens_map.json": Record<string, string>;
}

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface TokenizerJson {
  version: "1.0";
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: { type: "NFC" } | null;
  pre_tokenizer: Record<string, unknown>;
  post_processor: Record<string, unknown>;
  decoder: Record<string, unknown>;
  model: {
    type: "BPE";
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: false;
    byte_fallback: false;
    vocab: Record<string, number>;
    /** "left right" strings: byte-level tokens never contain a space. */
    merges: string[];
  };
}

export interface TokenizerFileSpec {
  vocab: readonly string[];
  merges: ReadonlyArray<readonly [string, string]>;
  /** Ids 0..n-1 of `vocab`; the first is eos (and bos/unk), the second padding. */
  specialTokens: readonly string[];
  nfc: boolean;
  modelMaxLength: number;
}

export function buildTokenizerFiles(spec: TokenizerFileSpec): TokenizerFiles {
  const [eos, pad] = spec.specialTokens;
  if (eos === undefined || pad === undefined) throw new Error("need an end-of-text and a padding token");
  spec.specialTokens.forEach((token, id) => {
    if (spec.vocab[id] !== token) throw new Error(`special token ${token} must have id ${id}`);
  });
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const addedTokens = spec.specialTokens.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizerJson: TokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: spec.nfc ? { type: "NFC" } : null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: { type: "ByteLevel", ...byteLevel },
    decoder: { type: "ByteLevel", ...byteLevel },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(spec.vocab.map((token, id) => [token, id])),
      merges: spec.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const addedTokensDecoder = Object.fromEntries(
    addedTokens.map(({ id, ...rest }) => [String(id), { ...rest }] as const),
  );
  const tokenizerConfig = {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    bos_token: eos,
    // Decoding must give back the exact text; the cleanup would delete spaces before punctuation.
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    model_max_length: spec.modelMaxLength,
    pad_token: pad,
    tokenizer_class: "GPTNeoXTokenizer",
    unk_token: eos,
  };
  const specialTokensMap = { bos_token: eos, eos_token: eos, pad_token: pad, unk_token: eos };
  return {
    "tokenizer.json": tokenizerJson,
    "tokenizer_config.json": tokenizerConfig,
    "special_tokens_map.json": specialTokensMap,
  };
}
