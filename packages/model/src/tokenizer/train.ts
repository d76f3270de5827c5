import { trainBpe } from "./bpe-trainer.js";
import { BYTE_LEVEL_ALPHABET, splitGpt2, splitOnSpecialTokens, toByteLevel } from "./byte-level.js";
import { buildTokenizerFiles, type TokenizerFiles } from "./files.js";

export interface ByteLevelBpeOptions {
  /** Final vocabulary size, special tokens and the 256 byte tokens included. */
  vocabSize: number;
  /** Added as special tokens with ids 0, 1, ...; the first is end-of-text, the second padding. */
  specialTokens?: string[];
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
  /** Apply Unicode NFC before tokenizing, as GPT-NeoX does (default false: the tokenizer is lossless). */
  nfc?: boolean;
  /** `model_max_length` in tokenizer_config.json (default 2048). */
  modelMaxLength?: number;
}

export const DEFAULT_SPECIAL_TOKENS = ["<|endoftext|>", "<|padding|>"];

/**
 * Train a GPT-NeoX-style byte-level BPE tokenizer on `text` and return its Hugging Face files.
 *
 * Ids: the special tokens first, then the 256 byte tokens in GPT-2's order (by the code point of their
 * byte-level character, so `!` is the first), then one id per merge (a merge whose result already is a token
 * reuses its id). This is the numbering Hugging Face's BpeTrainer produces, and with its tie-breaking rule
 * (count, then pair ids) the merges come out the same. Special tokens in the text are cut
 * out before pre-tokenization, so they are never split or learned from.
 */
export function trainByteLevelBpe(
  text: string | readonly string[],
  options: ByteLevelBpeOptions,
): TokenizerFiles {
  const specials = options.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  if (specials.length < 2) throw new Error("specialTokens needs at least an end-of-text and a padding token");
  if (new Set(specials).size !== specials.length)
    throw new Error(`specialTokens has duplicates: ${specials}`);
  const minVocab = specials.length + 256;
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < minVocab) {
    throw new Error(
      `vocabSize must be an integer >= ${minVocab} (specials + 256 bytes), got ${options.vocabSize}`,
    );
  }
  const minFrequency = options.minFrequency ?? 2;
  const nfc = options.nfc ?? false;

  const initialVocab = [...specials, ...BYTE_LEVEL_ALPHABET];
  const charId = new Map(BYTE_LEVEL_ALPHABET.map((c, i) => [c, specials.length + i]));
  const wordCounts = countWords(typeof text === "string" ? [text] : text, specials, nfc);
  const words = [...wordCounts].map(([word, count]) => ({
    symbols: Array.from(toByteLevel(word), (c) => charId.get(c)!),
    count,
  }));
  const { vocab, merges } = trainBpe({ initialVocab, words, vocabSize: options.vocabSize, minFrequency });
  return buildTokenizerFiles({
    vocab,
    merges,
    specialTokens: specials,
    nfc,
    modelMaxLength: options.modelMaxLength ?? 2048,
  });
}

/** Frequency of every GPT-2 piece (unencoded) across the texts; Map order is first occurrence. */
function countWords(
  texts: readonly string[],
  specials: readonly string[],
  nfc: boolean,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const raw of texts) {
    for (const stretch of splitOnSpecialTokens(raw, specials)) {
      const normalized = nfc ? stretch.normalize("NFC") : stretch;
      for (const piece of splitGpt2(normalized)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
    }
  }
  return counts;
}
