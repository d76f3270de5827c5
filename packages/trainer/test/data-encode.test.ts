/**
 * The data rules of the spec (docs/unlearning.md §1.2, §2.3) on rows whose text is a list of token ids, so every
 * expectation is written out by hand: "5 6 7" encodes to [5, 6, 7].
 */
import type { TaskRow } from "@lethe/core";
import { tokenizerFromFiles, trainByteLevelBpe } from "@lethe/model";
import { describe, expect, it } from "vitest";
import { buildBatch } from "../src/data/batch.js";
import { collate, nextTokenLabels } from "../src/data/collate.js";
import { encodePromptTarget, encodeText } from "../src/data/encode.js";
import { fromLetheTokenizer, type TextTokenizer } from "../src/data/tokenizer.js";

const EOS = 2;
const PAD = 1;
const numbers: TextTokenizer = {
  encode: (text) => text.split(/\s+/).filter(Boolean).map(Number),
  eosTokenId: EOS,
  padTokenId: PAD,
};

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
const text = (ids: readonly number[]) => ids.join(" ");

function row(input: readonly number[], output: readonly number[], task: TaskRow["task"] = "Task1"): TaskRow {
  return { id: `doc${input[0] ?? 0}sc0`, input: text(input), output: text(output), task, split: "forget" };
}

const asNumbers = (values: BigInt64Array | Int32Array | Uint8Array) => Array.from(values, Number);

describe("prompt_target (§1.2)", () => {
  it("keeps the LAST ⌊fraction·max_len⌋ prompt tokens and appends EOS to the target", () => {
    const encoded = encodePromptTarget(row(range(10, 20), [40, 41]), numbers, {
      maxLen: 10,
      promptFraction: 0.5,
    });
    expect(encoded.ids).toEqual([25, 26, 27, 28, 29, 40, 41, EOS]);
    expect(encoded.labels).toEqual([-100, -100, -100, -100, -100, 40, 41, EOS]);
  });

  it("204 prompt tokens at max_len 256 and fraction 0.8, as Python's int(0.8 * 256)", () => {
    const prompt = range(1000, 300);
    const encoded = encodePromptTarget(row(prompt, [7]), numbers, { maxLen: 256, promptFraction: 0.8 });
    expect(encoded.ids.slice(0, 204)).toEqual(prompt.slice(96));
    expect(encoded.ids.slice(204)).toEqual([7, EOS]);
    // Python: int(0.29 * 100) == 28 because 0.29 * 100 = 28.999999999999996
    const odd = encodePromptTarget(row(range(1, 50), [7]), numbers, { maxLen: 100, promptFraction: 0.29 });
    expect(odd.ids).toEqual([...range(23, 28), 7, EOS]);
  });

  it("a short prompt is kept whole", () => {
    const encoded = encodePromptTarget(row([5, 6], [8]), numbers, { maxLen: 10, promptFraction: 0.8 });
    expect(encoded.ids).toEqual([5, 6, 8, EOS]);
  });

  it("a prompt budget of 0 tokens keeps no prompt (not the whole prompt)", () => {
    const encoded = encodePromptTarget(row([5, 6, 7], [8]), numbers, { maxLen: 10, promptFraction: 0.05 });
    expect(encoded.ids).toEqual([8, EOS]);
    expect(encoded.labels).toEqual([8, EOS]);
  });

  it("is cut to its first max_len tokens: an over-long target loses its tail and its EOS", () => {
    const encoded = encodePromptTarget(row([5, 6, 7], range(50, 10)), numbers, {
      maxLen: 8,
      promptFraction: 0.5,
    });
    expect(encoded.ids).toEqual([5, 6, 7, 50, 51, 52, 53, 54]);
    expect(encoded.labels).toEqual([-100, -100, -100, 50, 51, 52, 53, 54]);
    expect(encoded.ids).not.toContain(EOS);
  });

  it("is left-padded to max_len; labels are −100 exactly on prompt and padding", () => {
    const rows = [row([5, 6, 7], [8, 9]), row(range(10, 12), [30])];
    const rules = { format: "prompt_target" as const, max_len: 8, prompt_fraction: 0.5, task_max_len: {} };
    const batch = buildBatch(rows, numbers, rules);
    expect([batch.batch, batch.seq]).toEqual([2, 8]);
    const P = PAD;
    const I = -100;
    // Row 0: 3 prompt + 2 target + EOS = 6 tokens, 2 pads. Row 1: last 4 prompt tokens + 30 + EOS = 6 tokens.
    expect(asNumbers(batch.ids)).toEqual([P, P, 5, 6, 7, 8, 9, EOS, P, P, 18, 19, 20, 21, 30, EOS]);
    expect(asNumbers(batch.labels)).toEqual([I, I, I, I, I, 8, 9, EOS, I, I, I, I, I, I, 30, EOS]);
    expect(asNumbers(batch.mask)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(asNumbers(batch.positions)).toEqual([1, 1, 0, 1, 2, 3, 4, 5, 1, 1, 0, 1, 2, 3, 4, 5]);
    expect(batch.lengths).toEqual([6, 6]);
  });

  it("every row of a batch is max_len wide, even when all rows are short", () => {
    const batch = buildBatch([row([5], [6])], numbers, {
      format: "prompt_target",
      max_len: 16,
      prompt_fraction: 0.8,
      task_max_len: {},
    });
    expect(batch.seq).toBe(16);
    expect(asNumbers(batch.ids).slice(13)).toEqual([5, 6, EOS]);
  });
});

describe("text (§2.3)", () => {
  it("is input + ' ' + output, every token labelled, no EOS", () => {
    const encoded = encodeText(row([5, 6], [7, 8]), numbers, 100);
    expect(encoded).toEqual({ ids: [5, 6, 7, 8], labels: [5, 6, 7, 8] });
    const spaced: TextTokenizer = { ...numbers, encode: (t) => Array.from(t, (c) => c.charCodeAt(0)) };
    const pieces = encodeText({ ...row([], []), input: "ab", output: "c" }, spaced, 100);
    expect(pieces.ids).toEqual([97, 98, 32, 99]);
  });

  it("caps each task at its task_max_len (right truncation), else max_len, and pads to the longest row", () => {
    const rows = [
      row(range(10, 6), [90], "Task2"),
      row(range(20, 6), [91], "Task1"),
      row([30], [92], "Task3"),
    ];
    const rules = { format: "text" as const, max_len: 5, prompt_fraction: 0.8, task_max_len: { Task2: 3 } };
    const batch = buildBatch(rows, numbers, rules);
    expect(batch.seq).toBe(5);
    const P = PAD;
    const I = -100;
    expect(asNumbers(batch.ids)).toEqual([P, P, 10, 11, 12, 20, 21, 22, 23, 24, P, P, P, 30, 92]);
    expect(asNumbers(batch.labels)).toEqual([I, I, 10, 11, 12, 20, 21, 22, 23, 24, I, I, I, 30, 92]);
    expect(asNumbers(batch.positions)).toEqual([1, 1, 0, 1, 2, 0, 1, 2, 3, 4, 1, 1, 1, 0, 1]);
    expect(batch.lengths).toEqual([3, 5, 2]);
  });

  it("a batch of short rows is only as wide as its longest row", () => {
    const rules = { format: "text" as const, max_len: 512, prompt_fraction: 0.8, task_max_len: {} };
    expect(buildBatch([row([5], [6]), row([5, 6], [7])], numbers, rules).seq).toBe(3);
  });
});

describe("collate and labels", () => {
  it("refuses a row longer than seq, and an empty batch", () => {
    expect(() => collate([{ ids: [1, 2, 3], labels: [1, 2, 3] }], PAD, 2)).toThrow(
      "3 tokens, more than seq = 2",
    );
    expect(() => collate([], PAD)).toThrow("empty");
  });

  it("nextTokenLabels scores position t on the label at t + 1", () => {
    const labels = BigInt64Array.from([-100n, -100n, 8n, 9n, 2n, -100n, 5n, 6n, 7n, 2n]);
    expect(asNumbers(nextTokenLabels(labels, 2, 5))).toEqual([-100, 8, 9, 2, -100, 5, 6, 7, 2, -100]);
  });
});

describe("with a trained byte-level BPE tokenizer", () => {
  const corpus = "The cat sat on the mat. The dog sat on the log. Cats and dogs sit on mats and logs.";
  const tokenizer = tokenizerFromFiles(trainByteLevelBpe(corpus, { vocabSize: 300 }));
  const tok = fromLetheTokenizer(tokenizer);

  it("uses the tokenizer's EOS and pad ids and its encoding of each piece", () => {
    expect([tok.eosTokenId, tok.padTokenId]).toEqual([tokenizer.eosId, tokenizer.padId]);
    const input = "The cat sat on the mat and the dog sat on the log";
    const output = "Cats sit";
    const maxLen = 12;
    const prompt = tokenizer.encode(input);
    const target = tokenizer.encode(output);
    expect(prompt.length).toBeGreaterThan(6); // the truncation below bites
    const encoded = encodePromptTarget(row([], []), tok, { maxLen, promptFraction: 0.5 }); // empty row: just EOS
    expect(encoded.ids).toEqual([tokenizer.eosId]);
    const real = encodePromptTarget({ ...row([], []), input, output }, tok, { maxLen, promptFraction: 0.5 });
    expect(real.ids).toEqual(
      [...prompt.slice(prompt.length - 6), ...target, tokenizer.eosId].slice(0, maxLen),
    );
    expect(tokenizer.decode(real.ids.slice(6, 6 + target.length))).toBe(output);
  });
});
