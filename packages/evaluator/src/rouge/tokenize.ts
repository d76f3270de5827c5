import { porterStem } from "./porter-stemmer.js";

/** Only words of more than 3 characters go through the stemmer (rouge_score's rule). */
const MIN_STEMMED_LENGTH = 4;

// Stemming dominates scoring time and texts repeat words, so stems are memoised (bounded: cleared when full).
const STEM_CACHE_LIMIT = 100_000;
const stemCache = new Map<string, string>();

function cachedStem(word: string): string {
  let stem = stemCache.get(word);
  if (stem === undefined) {
    if (stemCache.size >= STEM_CACHE_LIMIT) stemCache.clear();
    stem = porterStem(word);
    stemCache.set(word, stem);
  }
  return stem;
}

/**
 * `rouge_score`'s default tokenizer (`tokenize.tokenize(text, stemmer)`): lowercase, every run of
 * characters outside [a-z0-9] becomes one space, split on whitespace, Porter-stem the tokens longer than
 * 3 characters, drop empty tokens. Non-ASCII letters therefore separate words and never survive.
 */
export function rougeTokenize(text: string, useStemmer = true): string[] {
  const words = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(" ");
  const tokens: string[] = [];
  for (const word of words) {
    if (word === "") continue;
    tokens.push(useStemmer && word.length >= MIN_STEMMED_LENGTH ? cachedStem(word) : word);
  }
  return tokens;
}
