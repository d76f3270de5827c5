import { describe, expect, it } from "vitest";
import { lcsLength, rougeL, rougeLRecall } from "../src/rouge/rouge-l.js";
import { rougeTokenize } from "../src/rouge/tokenize.js";

describe("rougeTokenize (rouge_score's tokenizer)", () => {
  it("lowercases and turns every run of non-alphanumerics into one separator", () => {
    expect(rougeTokenize("Hello, World!!  (again)")).toEqual(["hello", "world", "again"]);
    expect(rougeTokenize("don't e-mail O'Brien")).toEqual(["don", "t", "e", "mail", "o", "brien"]);
  });

  it("keeps digits and splits numbers at punctuation", () => {
    // 1976-03-29 → 1976 03 29; 3.14 → 3 14; "1990s" has 5 characters so it is stemmed to 1990.
    expect(rougeTokenize("Born 1976-03-29, pi=3.14, the 1990s")).toEqual([
      "born",
      "1976",
      "03",
      "29",
      "pi",
      "3",
      "14",
      "the",
      "1990",
    ]);
  });

  it("drops non-ASCII letters (they are not [a-z0-9]) and splits words at them", () => {
    expect(rougeTokenize("café naïve 日本")).toEqual(["caf", "na", "ve"]);
  });

  it("stems only tokens longer than 3 characters", () => {
    // "was" and "his" would stem to "wa" and "hi" but have 3 characters; "runs" has 4.
    expect(rougeTokenize("He was his cats runs")).toEqual(["he", "was", "his", "cat", "run"]);
    expect(rougeTokenize("He was his cats runs", false)).toEqual(["he", "was", "his", "cats", "runs"]);
  });

  it("gives no tokens for empty or punctuation-only text", () => {
    expect(rougeTokenize("")).toEqual([]);
    expect(rougeTokenize(" \n\t!!! — ...")).toEqual([]);
  });
});

/** LCS by plain recursion over suffixes, memoised: an independent check of the two-row DP. */
function lcsReference(a: string[], b: string[]): number {
  const memo = new Map<string, number>();
  const go = (i: number, j: number): number => {
    if (i === a.length || j === b.length) return 0;
    const key = `${i},${j}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const value = a[i] === b[j] ? 1 + go(i + 1, j + 1) : Math.max(go(i + 1, j), go(i, j + 1));
    memo.set(key, value);
    return value;
  };
  return go(0, 0);
}

describe("ROUGE-L", () => {
  it("recall = LCS / reference tokens on a hand-worked sentence", () => {
    // reference: the cat sat on the mat (6); prediction: the cat on a mat; LCS: the cat on mat = 4.
    const s = rougeL("The cat sat on the mat.", "the cat on a mat");
    expect(s.recall).toBe(4 / 6);
    expect(s.precision).toBe(4 / 5);
    expect(s.fmeasure).toBeCloseTo((2 * (4 / 6) * (4 / 5)) / (4 / 6 + 4 / 5), 15);
  });

  it("counts repeated words once per occurrence", () => {
    expect(rougeLRecall("the the the", "the")).toBe(1 / 3);
    expect(rougeLRecall("the the the", "the the the the")).toBe(1);
    expect(rougeLRecall("a b a b", "b a b a")).toBe(3 / 4);
  });

  it("is order sensitive: a reversed sentence keeps one token", () => {
    expect(rougeLRecall("a b c d", "d c b a")).toBe(1 / 4);
  });

  it("matches through the stemmer and the punctuation rule", () => {
    // reference tokens: the cat were run (4); prediction: cat run → LCS 2.
    expect(rougeLRecall("The cats were running.", "cat runs")).toBe(2 / 4);
    // reference: born on 1976 03 29 (5); prediction: born 1976 03 29 → LCS 4.
    expect(rougeLRecall("Born on 1976-03-29", "born 1976/03/29")).toBe(4 / 5);
  });

  it("is 0 when either side has no tokens", () => {
    expect(rougeLRecall("", "anything")).toBe(0);
    expect(rougeLRecall("something", "")).toBe(0);
    expect(rougeLRecall("something", "?!")).toBe(0);
    expect(rougeL("", "").fmeasure).toBe(0);
  });

  it("computes the same LCS as an independent recursion on random token lists", () => {
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let trial = 0; trial < 200; trial++) {
      const a = Array.from({ length: next() % 12 }, () => "abcd"[next() % 4]!);
      const b = Array.from({ length: next() % 12 }, () => "abcd"[next() % 4]!);
      expect(lcsLength(a, b)).toBe(lcsReference(a, b));
    }
  });
});
