/**
 * GPT-2 byte-level pre-tokenization, as Hugging Face `tokenizers` does it with `ByteLevel(use_regex=true)`:
 * split the text with the GPT-2 regex, then spell each piece's UTF-8 bytes with one printable character per
 * byte so that every byte sequence is a string of "visible" characters (space becomes "Ġ", newline "Ċ").
 */

/** The GPT-2 split: contractions, letters, digits, other symbols, each optionally led by one space. */
export const GPT2_SPLIT_REGEX =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * The bytes→unicode map: printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for themselves; the
 * other 68 bytes are given the code points 256, 257, ... in byte order.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) chars.push(String.fromCharCode(printable(b) ? b : next++));
  return chars;
})();

/**
 * The 256 byte characters in code-point order: `!`..`~`, `¡`..`¬`, `®`..`ÿ`, then `Ā`, `ā`, ... (the other
 * bytes). GPT-2's vocabulary and Hugging Face's BpeTrainer (hence GPT-NeoX's) number the bytes in this order.
 */
export const BYTE_LEVEL_ALPHABET: readonly string[] = [...BYTE_TO_CHAR].sort(
  (a, b) => a.charCodeAt(0) - b.charCodeAt(0),
);

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8 = new TextEncoder();

/** The byte-level spelling of `text`: one character of `BYTE_TO_CHAR` per UTF-8 byte. */
export function toByteLevel(text: string): string {
  let out = "";
  for (const byte of utf8.encode(text)) out += BYTE_TO_CHAR[byte];
  return out;
}

/** Inverse of `toByteLevel` for a sequence of byte-level characters. */
export function fromByteLevel(chars: string): Uint8Array {
  const bytes = new Uint8Array(chars.length);
  let n = 0;
  for (const c of chars) {
    const b = CHAR_TO_BYTE.get(c);
    if (b === undefined) throw new Error(`"${c}" is not a byte-level character`);
    bytes[n++] = b;
  }
  return bytes.subarray(0, n);
}

/** The GPT-2 pieces of `text`, in order (not yet byte-encoded). */
export function splitGpt2(text: string): string[] {
  return text.match(GPT2_SPLIT_REGEX) ?? [];
}

/**
 * Cut `text` around every occurrence of the special tokens (longest first at each position), returning the
 * ordinary stretches between them. Special tokens are matched before pre-tokenization, as the tokenizer does.
 */
export function splitOnSpecialTokens(text: string, specials: readonly string[]): string[] {
  const present = specials.filter((s) => s.length > 0 && text.includes(s));
  if (present.length === 0) return [text];
  const sorted = [...present].sort((a, b) => b.length - a.length);
  const pattern = new RegExp(sorted.map(escapeRegExp).join("|"), "g");
  return text.split(pattern).filter((s) => s.length > 0);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
