import type { LetheTokenizer } from "@lethe/model";

/** What the data rules need of a tokenizer: text to ids, and the EOS and pad ids. */
export interface TextTokenizer {
  encode(text: string): number[];
  readonly eosTokenId: number;
  readonly padTokenId: number;
}

/**
 * A checkpoint's tokenizer seen as a TextTokenizer. `addSpecialTokens` (default true, as HF's
 * `tokenizer(text)`) applies to every piece encoded: the prompt, the target and the text of a row.
 */
export function fromLetheTokenizer(
  tokenizer: LetheTokenizer,
  options: { addSpecialTokens?: boolean } = {},
): TextTokenizer {
  const addSpecialTokens = options.addSpecialTokens ?? true;
  return {
    encode: (text) => tokenizer.encode(text, { addSpecialTokens }),
    eosTokenId: tokenizer.eosId,
    padTokenId: tokenizer.padId,
  };
}
