import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { trainBpe } from "../src/tokenizer/bpe-trainer.js";
import { tokenizerFromFiles } from "../src/tokenizer/load.js";
import { trainByteLevelBpe } from "../src/tokenizer/train.js";

const SPECIALS = ["<|endoftext|>", "<|padding|>"];
/**
 * Id of a printable-ASCII byte token: the two specials come first, then the 256 byte characters in code-point
 * order (GPT-2's), which starts with "!" (33) .. "~" (126).
 */
const asciiId = (ch: string) => 2 + ch.charCodeAt(0) - 33;

function mergesOf(text: string, vocabSize: number, minFrequency = 1): string[] {
  return trainByteLevelBpe(text, { vocabSize, minFrequency })["tokenizer.json"].model.merges;
}

describe("byte-level BPE training on hand-worked corpora", () => {
  it("merges the most frequent pair first and builds on earlier merges", () => {
    // Pieces: "ab" x1, " ab" x2, " abc" x2 -> byte-level "ab", "Ġab" x2, "Ġabc" x2.
    // Counts: (a,b) = 1+2+2 = 5, (Ġ,a) = 4, (b,c) = 2      -> merge "a b"
    // Then:   (Ġ,ab) = 4, (ab,c) = 2                        -> merge "Ġ ab"
    // Then:   (Ġab,c) = 2                                    -> merge "Ġab c"
    expect(mergesOf("ab ab ab abc abc", 2 + 256 + 3)).toEqual(["a b", "Ġ ab", "Ġab c"]);
  });

  it("breaks ties by the smaller left id, then the smaller right id", () => {
    // Pieces "xy" and " zw": every pair occurs once. Ids: x = 2+(120-33) = 89, z = 91, Ġ = 2+188+32 = 222.
    // Step 1 picks (x,y). Step 2: (z,w) has left id 91 < 222 for (Ġ,z). Step 3: (Ġ,zw).
    expect(mergesOf("xy zw", 2 + 256 + 3)).toEqual(["x y", "z w", "Ġ zw"]);
    // "ad-ac" splits into "ad", "-", "ac": (a,d) and (a,c) both occur once; same left, c < d -> "a c".
    expect(mergesOf("ad-ac", 2 + 256 + 1)).toEqual(["a c"]);
  });

  it("counts overlapping pairs and merges them left to right", () => {
    // "aaa": (a,a) occurs twice (two windows) -> merge "a a" gives [aa, a]; then (aa,a) once -> "aa a".
    expect(mergesOf("aaa", 2 + 256 + 2)).toEqual(["a a", "aa a"]);
  });

  it("stops at the vocabulary size and below the minimum frequency", () => {
    expect(mergesOf("ab ab ab abc abc", 2 + 256 + 1)).toEqual(["a b"]);
    // With minFrequency 3 only (a,b)=5 and (Ġ,ab)=4 qualify; (Ġab,c)=2 does not.
    expect(mergesOf("ab ab ab abc abc", 2 + 256 + 10, 3)).toEqual(["a b", "Ġ ab"]);
  });

  it("never merges across pre-tokenization boundaries or special tokens", () => {
    // Pieces: "a" "." "b" " a" "." "b" " x" | "y" " x" | "y" (the special token cuts the text).
    // Within pieces only (Ġ,a) x1 and (Ġ,x) x2 exist; with minFrequency 2 just "Ġ x" is learned, and no
    // pair with "." or the special token's characters ever appears.
    expect(mergesOf("a.b a.b x<|endoftext|>y x<|endoftext|>y", 2 + 256 + 5, 2)).toEqual(["Ġ x"]);
  });

  it("treats each document of an array separately", () => {
    // "xab" twice: (x,a) and (a,b) both occur twice; the tie goes to the smaller left id (a < x), so "a b"
    // first, then "x ab".
    expect(
      trainByteLevelBpe(["xab", "xab"], { vocabSize: 2 + 256 + 5, minFrequency: 2 })["tokenizer.json"].model
        .merges,
    ).toEqual(["a b", "x ab"]);
    // Split into documents "xa" | "b", the pair (a,b) never occurs.
    expect(
      trainByteLevelBpe(["xa", "b", "xa", "b"], { vocabSize: 2 + 256 + 5, minFrequency: 2 })["tokenizer.json"]
        .model.merges,
    ).toEqual(["x a"]);
  });

  it("starts from specials then the 256 byte characters in GPT-2 order", () => {
    const vocab = trainByteLevelBpe("hello", { vocabSize: 258, specialTokens: SPECIALS })["tokenizer.json"]
      .model.vocab;
    expect(vocab["<|endoftext|>"]).toBe(0);
    expect(vocab["<|padding|>"]).toBe(1);
    expect(vocab["!"]).toBe(2);
    expect(vocab["h"]).toBe(asciiId("h"));
    expect(vocab["~"]).toBe(2 + 93);
    expect(vocab["¡"]).toBe(2 + 94); // byte 161, printable Latin-1
    expect(vocab["ÿ"]).toBe(2 + 187); // byte 255, the last printable one (byte 173 is not)
    expect(vocab["Ā"]).toBe(2 + 188); // byte 0, the first remapped byte
    expect(vocab["Ċ"]).toBe(2 + 188 + 10); // newline
    expect(vocab["Ġ"]).toBe(2 + 188 + 32); // space
    expect(Object.keys(vocab)).toHaveLength(258);
  });

  it("rejects a vocabulary too small for specials and bytes", () => {
    expect(() => trainByteLevelBpe("x", { vocabSize: 257 })).toThrow(
      "vocabSize must be an integer >= 258 (specials + 256 bytes), got 257",
    );
  });
});

/**
 * A direct transcription of the BPE definition: recount every pair of every word after each merge.
 * Quadratic, but independent of the trainer's incremental bookkeeping.
 */
function naiveBpe(
  words: Map<string[], number>,
  vocabStart: string[],
  vocabSize: number,
  minFrequency: number,
) {
  const ids = new Map(vocabStart.map((t, i) => [t, i]));
  const merges: string[] = [];
  let segmented = [...words].map(([w, c]) => ({ w: [...w], c }));
  while (ids.size < vocabSize) {
    const counts = new Map<string, { a: string; b: string; n: number }>();
    for (const { w, c } of segmented) {
      for (let i = 0; i + 1 < w.length; i++) {
        const key = `${w[i]}\u0000${w[i + 1]}`;
        const entry = counts.get(key) ?? { a: w[i]!, b: w[i + 1]!, n: 0 };
        entry.n += c;
        counts.set(key, entry);
      }
    }
    let best: { a: string; b: string; n: number } | undefined;
    for (const e of counts.values()) {
      if (
        !best ||
        e.n > best.n ||
        (e.n === best.n &&
          (ids.get(e.a)! < ids.get(best.a)! || (e.a === best.a && ids.get(e.b)! < ids.get(best.b)!)))
      ) {
        best = e;
      }
    }
    if (!best || best.n < minFrequency) break;
    const { a, b } = best;
    merges.push(`${a} ${b}`);
    if (!ids.has(a + b)) ids.set(a + b, ids.size);
    segmented = segmented.map(({ w, c }) => {
      const out: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(w[i]!);
      }
      return { w: out, c };
    });
  }
  return merges;
}

describe("incremental trainer against the naive definition", () => {
  it("gives the same merges on a random corpus", () => {
    let s = 7;
    const rand = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32;
    };
    const parts = ["a", "b", "c", "d", "e", "ab", "ba", "é", " "];
    let text = "";
    for (let i = 0; i < 1500; i++) text += parts[Math.floor(rand() * parts.length)];
    const vocabSize = 2 + 256 + 120;
    const files = trainByteLevelBpe(text, { vocabSize, minFrequency: 2 });

    // Word table built here from the same GPT-2 split, spelled with the byte-level characters.
    const pieces =
      text.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu) ?? [];
    // The GPT-2 byte map, rebuilt here: printable Latin-1 bytes are themselves, the others 256, 257, ...
    const printable = (b: number) =>
      (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    let next = 256;
    const byteChar = Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++));
    const alphabet = [...byteChar].sort((x, y) => x.charCodeAt(0) - y.charCodeAt(0));
    const counts = new Map<string, number>();
    for (const p of pieces) counts.set(p, (counts.get(p) ?? 0) + 1);
    const words = new Map<string[], number>();
    for (const [p, c] of counts)
      words.set(
        Array.from(new TextEncoder().encode(p), (b) => byteChar[b]!),
        c,
      );
    const expected = naiveBpe(words, [...SPECIALS, ...alphabet], vocabSize, 2);
    expect(expected.length).toBeGreaterThan(50);
    expect(files["tokenizer.json"].model.merges).toEqual(expected);
  });

  it("reuses the id when two merges spell the same token", () => {
    // Two words that reach "abc" by different routes: [ab, c] x3 and [a, bc] x2.
    const result = trainBpe({
      initialVocab: ["a", "b", "c", "ab", "bc"],
      words: [
        { symbols: [3, 2], count: 3 }, // ab c
        { symbols: [0, 4], count: 2 }, // a bc
      ],
      vocabSize: 10,
      minFrequency: 1,
    });
    expect(result.merges).toEqual([
      ["ab", "c"],
      ["a", "bc"],
    ]);
    expect(result.vocab).toEqual(["a", "b", "c", "ab", "bc", "abc"]);
  });
});

interface HfRun {
  vocab_size: number;
  min_frequency: number;
  merges: string[];
  vocab_size_reached: number;
  sample: string;
  sample_ids: number[];
}

describe("agreement with Hugging Face tokenizers (Rust BpeTrainer)", () => {
  // Produced once by the Python `tokenizers` package (version in the file) from the text in the file; see
  // docs/tiny-model.md. It is HF's output, not ours.
  const fixture = JSON.parse(
    readFileSync(new URL("./reference/hf-bpe-fixture.json", import.meta.url), "utf8"),
  ) as { tokenizers_version: string; text: string; runs: HfRun[] };

  for (const run of fixture.runs) {
    it(`learns HF's merges and ids (vocab ${run.vocab_size}, min frequency ${run.min_frequency})`, () => {
      const files = trainByteLevelBpe(fixture.text, {
        vocabSize: run.vocab_size,
        minFrequency: run.min_frequency,
      });
      expect(files["tokenizer.json"].model.merges).toEqual(run.merges);
      expect(Object.keys(files["tokenizer.json"].model.vocab)).toHaveLength(run.vocab_size_reached);
      expect(tokenizerFromFiles(files).encode(run.sample)).toEqual(run.sample_ids);
    });
  }
});
