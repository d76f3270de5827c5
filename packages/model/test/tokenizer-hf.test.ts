import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { openStore } from "@lethe/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTokenizer, tokenizerFromFiles, writeTokenizerFiles } from "../src/tokenizer/load.js";
import { trainByteLevelBpe } from "../src/tokenizer/train.js";

const CORPUS = [
  "Machine unlearning removes what a model memorised. The model forgets the forget set and keeps the retain set.",
  "Unlearning a language model: unlearning, unlearning, unlearning. Héllo wörld, naïve café, 日本語のテキスト.",
  "Numbers 1234 and 2025-03-29, emails jane.doe@example.com, phone +1 (555) 010-9999.\n\n\tIndented line.",
].join("\n");
/** Pseudo-words from syllables: enough distinct pairs that the vocabulary fills up. */
function babble(seed: number, words: number): string {
  const syllables = ["ka", "lo", "mi", "ne", "tu", "ra", "shi", "po", "den", "vel", "qu", "ix", "ö", "ß"];
  let s = seed;
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    let w = "";
    for (let k = 0; k < 1 + (i % 4); k++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      w += syllables[(s >>> 16) % syllables.length];
    }
    out.push(w);
  }
  return out.join(" ");
}
const TEXT = `${CORPUS}\n`.repeat(20) + babble(3, 3000);

/** Random strings over hard characters: astral emoji, combining marks, CJK, control and odd whitespace. */
function randomUnicode(seed: number, length: number): string {
  const pool = [
    "a",
    "Z",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    "\u00a0",
    "\u3000",
    "'s",
    "'ll",
    "é",
    "e\u0301",
    "ñ",
    "ß",
    "日",
    "本",
    "😀",
    "👩‍💻",
    "🇫🇷",
    "\u0000",
    "\u007f",
    "\ufeff",
    "\u200d",
    "Ω",
    "∑",
    "\u{10ffff}",
    "<|endoftext|>",
    "<|padding|>",
    "<|",
    "|>",
    "unlearning",
    " the",
    "1",
    "23",
    "!",
    "...",
    "ـ",
    "א",
  ];
  let s = seed >>> 0;
  let out = "";
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out += pool[s % pool.length];
  }
  return out;
}

describe("a trained tokenizer loaded by @huggingface/tokenizers", () => {
  const files = trainByteLevelBpe(TEXT, { vocabSize: 600 });
  const tokenizer = tokenizerFromFiles(files);

  it("round-trips arbitrary unicode exactly", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const text = randomUnicode(seed, 60);
      expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    }
    expect(tokenizer.decode(tokenizer.encode(TEXT))).toBe(TEXT);
    expect(tokenizer.decode(tokenizer.encode(""))).toBe("");
  });

  it("applies the learned merges: frequent words become single tokens", () => {
    expect(tokenizer.tokenize(" unlearning")).toEqual(["Ġunlearning"]);
    expect(tokenizer.tokenize(" The model")).toEqual(["ĠThe", "Ġmodel"]);
    // A word never seen falls back to smaller pieces but still decodes.
    const rare = tokenizer.tokenize(" zyxwv");
    expect(rare.length).toBeGreaterThan(1);
    expect(rare.join("")).toBe("Ġzyxwv");
  });

  it("encodes unseen bytes as single byte tokens, numbered in GPT-2 order after the specials", () => {
    // GPT-2 order: the 188 printable bytes (33-126, 161-172, 174-255) in byte order, then the other 68.
    const printable = (b: number) =>
      (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const countBelow = (b: number, keep: (x: number) => boolean) =>
      Array.from({ length: b }, (_, x) => x).filter(keep).length;
    const byteTokenId = (b: number) =>
      printable(b) ? 2 + countBelow(b, printable) : 2 + 188 + countBelow(b, (x) => !printable(x));
    expect(byteTokenId(126)).toBe(2 + 93);
    expect(tokenizer.encode("~")).toEqual([byteTokenId(126)]);
    expect(tokenizer.encode("\u0000")).toEqual([2 + 188]);
    // "😀" is F0 9F 98 80 in UTF-8 and does not occur in the corpus.
    expect(tokenizer.encode("😀")).toEqual([0xf0, 0x9f, 0x98, 0x80].map(byteTokenId));
  });

  it("maps the special tokens to their ids and can skip them when decoding", () => {
    expect(tokenizer.eosId).toBe(0);
    expect(tokenizer.padId).toBe(1);
    expect(tokenizer.bosId).toBe(0);
    expect(tokenizer.encode("<|endoftext|>")).toEqual([0]);
    expect(tokenizer.encode("<|padding|>")).toEqual([1]);
    const ids = tokenizer.encode("The model<|endoftext|>");
    expect(ids.at(-1)).toBe(0);
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe("The model");
    expect(tokenizer.decode(ids)).toBe("The model<|endoftext|>");
    expect(tokenizer.vocabSize).toBe(600);
  });

  it("the files are what the HF library itself reads (no wrapper involved)", () => {
    const raw = new Tokenizer(files["tokenizer.json"], files["tokenizer_config.json"]);
    const text = "Unlearning the model, naïve café!";
    const { ids } = raw.encode(text);
    expect(raw.decode(ids)).toBe(text);
    expect(ids).toEqual(tokenizer.encode(text));
    expect(raw.get_vocab(true).size).toBe(600);
    expect(files["tokenizer_config.json"]["tokenizer_class"]).toBe("GPTNeoXTokenizer");
    expect(files["special_tokens_map.json"]).toEqual({
      bos_token: "<|endoftext|>",
      eos_token: "<|endoftext|>",
      pad_token: "<|padding|>",
      unk_token: "<|endoftext|>",
    });
  });

  it("is deterministic: the same text gives byte-identical files", () => {
    const again = trainByteLevelBpe(TEXT, { vocabSize: 600 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(files));
  });

  it("left-pads a batch with the pad id and masks the pads", () => {
    const batch = tokenizer.encodeBatch(["The model", "unlearning removes what a model memorised", ""]);
    const a = tokenizer.encode("The model");
    const b = tokenizer.encode("unlearning removes what a model memorised");
    const width = b.length;
    expect(batch.ids[0]).toEqual([...Array(width - a.length).fill(1), ...a]);
    expect(batch.ids[1]).toEqual(b);
    expect(batch.ids[2]).toEqual(Array(width).fill(1));
    expect(batch.attentionMask[0]).toEqual([...Array(width - a.length).fill(0), ...Array(a.length).fill(1)]);
    expect(batch.attentionMask[2]).toEqual(Array(width).fill(0));
    expect(batch.lengths).toEqual([a.length, b.length, 0]);
  });

  it("rejects ids outside the vocabulary", () => {
    expect(() => tokenizer.decode([5, 600])).toThrow("token id 600 is outside the vocabulary [0, 600)");
  });
});

describe("NFC option", () => {
  it("normalises to NFC like GPT-NeoX, so NFD input decodes to its NFC form", () => {
    const tok = tokenizerFromFiles(trainByteLevelBpe(TEXT, { vocabSize: 400, nfc: true }));
    expect(tok.decode(tok.encode("cafe\u0301"))).toBe("caf\u00e9");
  });
});

describe("loadTokenizer from a store", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lethe-tok-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the files written to a directory", async () => {
    const files = trainByteLevelBpe(TEXT, { vocabSize: 500 });
    await writeTokenizerFiles(openStore(dir), files);
    const tok = await loadTokenizer(dir);
    const direct = tokenizerFromFiles(files);
    expect(tok.encode(CORPUS)).toEqual(direct.encode(CORPUS));
    expect(tok.vocabSize).toBe(500);
  });

  it("names the missing file", async () => {
    const empty = await mkdtemp(join(tmpdir(), "lethe-tok-empty-"));
    await expect(loadTokenizer(empty)).rejects.toThrow(/tokenizer\.json: not found/);
    await rm(empty, { recursive: true, force: true });
  });
});
