import { rougeTokenize } from "./tokenize.js";

/** Length of the longest common subsequence of two token lists (dynamic programming, two rows). */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  // Compare integer ids instead of strings in the inner loop.
  const ids = new Map<string, number>();
  const idOf = (t: string): number => {
    let id = ids.get(t);
    if (id === undefined) {
      id = ids.size;
      ids.set(t, id);
    }
    return id;
  };
  const x = Int32Array.from(a, idOf);
  const y = Int32Array.from(b, idOf);
  let prev = new Int32Array(y.length + 1);
  let curr = new Int32Array(y.length + 1);
  for (let i = 1; i <= x.length; i++) {
    const xi = x[i - 1];
    for (let j = 1; j <= y.length; j++) {
      curr[j] = xi === y[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, curr[j - 1]!);
    }
    [prev, curr] = [curr, prev];
  }
  return prev[y.length]!;
}

export interface RougeLScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

/**
 * `rouge_score.RougeScorer(['rougeL'], use_stemmer).score(target, prediction)['rougeL']`:
 * LCS over the tokens; recall = LCS / |target|, precision = LCS / |prediction|; all 0 when either side
 * has no tokens.
 */
export function rougeL(target: string, prediction: string, useStemmer = true): RougeLScore {
  const targetTokens = rougeTokenize(target, useStemmer);
  const predictionTokens = rougeTokenize(prediction, useStemmer);
  if (targetTokens.length === 0 || predictionTokens.length === 0) {
    return { precision: 0, recall: 0, fmeasure: 0 };
  }
  const lcs = lcsLength(targetTokens, predictionTokens);
  const precision = lcs / predictionTokens.length;
  const recall = lcs / targetTokens.length;
  const fmeasure = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, fmeasure };
}

/** The regurgitation score of one sentence-completion row: ROUGE-L recall against the gold output. */
export function rougeLRecall(reference: string, generation: string): number {
  return rougeL(reference, generation, true).recall;
}
