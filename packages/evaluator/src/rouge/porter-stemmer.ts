/**
 * The Porter stemmer exactly as `rouge_score` runs it: NLTK's `PorterStemmer()` in its default
 * `NLTK_EXTENSIONS` mode (rouge_score's DefaultTokenizer constructs it with no arguments).
 *
 * Porter, M. "An algorithm for suffix stripping." Program 14.3 (1980): 130-137, plus the departures NLTK
 * makes in that mode (marked "NLTK" below): an irregular-forms table, words of one or two letters left
 * alone, "ies"/"ied" on four-letter words kept as "ie", the two-letter *o condition, y→i only after a
 * consonant that is not the first letter, "alli" tried first, "bli"→"ble", "fulli"→"ful", "logi"→"log".
 *
 * Rules inside a step are tried in order and the first one whose suffix matches decides: if its condition
 * fails, the word is returned unchanged and later rules are not tried (NLTK's `_apply_rule_list`).
 */

type Condition = (stem: string) => boolean;
/** [suffix, replacement, condition]; suffix "*d" means "ends with a double consonant". */
type Rule = readonly [string, string, Condition | null];

// NLTK: irregular forms, looked up before any stemming.
const IRREGULAR_FORMS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    sky: ["sky", "skies"],
    die: ["dying"],
    lie: ["lying"],
    tie: ["tying"],
    news: ["news"],
    inning: ["innings", "inning"],
    outing: ["outings", "outing"],
    canning: ["cannings", "canning"],
    howe: ["howe"],
    proceed: ["proceed"],
    exceed: ["exceed"],
    succeed: ["succeed"],
  }).flatMap(([paradigm, forms]) => forms.map((form): [string, string] => [form, paradigm])),
);

function isVowelLetter(ch: string | undefined): boolean {
  return ch === "a" || ch === "e" || ch === "i" || ch === "o" || ch === "u";
}

/** A letter other than a, e, i, o, u, and other than y preceded by a consonant. */
function isConsonant(word: string, i: number): boolean {
  const ch = word[i];
  if (isVowelLetter(ch)) return false;
  if (ch === "y") return i === 0 ? true : !isConsonant(word, i - 1);
  return true;
}

/** m in [C](VC){m}[V]: the number of vowel-run → consonant-run transitions. */
function measure(stem: string): number {
  let m = 0;
  for (let i = 1; i < stem.length; i++) {
    if (!isConsonant(stem, i - 1) && isConsonant(stem, i)) m++;
  }
  return m;
}

const positiveMeasure: Condition = (stem) => measure(stem) > 0;
const measureAboveOne: Condition = (stem) => measure(stem) > 1;

function containsVowel(stem: string): boolean {
  for (let i = 0; i < stem.length; i++) if (!isConsonant(stem, i)) return true;
  return false;
}

/** *d: ends with a double consonant. */
function endsDoubleConsonant(word: string): boolean {
  const n = word.length;
  return n >= 2 && word[n - 1] === word[n - 2] && isConsonant(word, n - 1);
}

/** *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK also accepts a two-letter vowel-consonant word. */
function endsCvc(word: string): boolean {
  const n = word.length;
  if (
    n >= 3 &&
    isConsonant(word, n - 3) &&
    !isConsonant(word, n - 2) &&
    isConsonant(word, n - 1) &&
    word[n - 1] !== "w" &&
    word[n - 1] !== "x" &&
    word[n - 1] !== "y"
  ) {
    return true;
  }
  return n === 2 && !isConsonant(word, 0) && isConsonant(word, 1);
}

function applyFirstMatchingRule(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, condition] of rules) {
    let stem: string | undefined;
    if (suffix === "*d") {
      if (endsDoubleConsonant(word)) stem = word.slice(0, -2);
    } else if (word.endsWith(suffix)) {
      stem = word.slice(0, word.length - suffix.length);
    }
    if (stem === undefined) continue;
    return condition === null || condition(stem) ? stem + replacement : word;
  }
  return word;
}

/** Step 1a: plurals. */
function step1a(word: string): string {
  if (word.endsWith("ies") && word.length === 4) return word.slice(0, -3) + "ie"; // NLTK: dies → die
  return applyFirstMatchingRule(word, [
    ["sses", "ss", null],
    ["ies", "i", null],
    ["ss", "ss", null],
    ["s", "", null],
  ]);
}

/** Step 1b: -eed, -ed, -ing, then tidying of the stem that is left. */
function step1b(word: string): string {
  if (word.endsWith("ied")) return word.slice(0, -3) + (word.length === 4 ? "ie" : "i"); // NLTK
  if (word.endsWith("eed")) {
    const stem = word.slice(0, -3);
    return measure(stem) > 0 ? stem + "ee" : word;
  }
  let stem: string | undefined;
  for (const suffix of ["ed", "ing"]) {
    if (word.endsWith(suffix) && containsVowel(word.slice(0, -suffix.length))) {
      stem = word.slice(0, -suffix.length);
      break;
    }
  }
  if (stem === undefined) return word;
  const last = stem[stem.length - 1] ?? "";
  return applyFirstMatchingRule(stem, [
    ["at", "ate", null],
    ["bl", "ble", null],
    ["iz", "ize", null],
    ["*d", last, () => last !== "l" && last !== "s" && last !== "z"],
    ["", "e", (s) => measure(s) === 1 && endsCvc(s)],
  ]);
}

/** Step 1c: y → i after a consonant that is not the word's only letter (NLTK's condition). */
function step1c(word: string): string {
  return applyFirstMatchingRule(word, [
    ["y", "i", (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)],
  ]);
}

/** Step 2: double suffixes to single ones, when the stem has m > 0. */
function step2(word: string): string {
  // NLTK: "alli" → "al" first, and the result goes through step 2 again.
  if (word.endsWith("alli") && positiveMeasure(word.slice(0, -4))) return step2(word.slice(0, -4) + "al");
  return applyFirstMatchingRule(word, [
    ["ational", "ate", positiveMeasure],
    ["tional", "tion", positiveMeasure],
    ["enci", "ence", positiveMeasure],
    ["anci", "ance", positiveMeasure],
    ["izer", "ize", positiveMeasure],
    ["bli", "ble", positiveMeasure],
    ["alli", "al", positiveMeasure],
    ["entli", "ent", positiveMeasure],
    ["eli", "e", positiveMeasure],
    ["ousli", "ous", positiveMeasure],
    ["ization", "ize", positiveMeasure],
    ["ation", "ate", positiveMeasure],
    ["ator", "ate", positiveMeasure],
    ["alism", "al", positiveMeasure],
    ["iveness", "ive", positiveMeasure],
    ["fulness", "ful", positiveMeasure],
    ["ousness", "ous", positiveMeasure],
    ["aliti", "al", positiveMeasure],
    ["iviti", "ive", positiveMeasure],
    ["biliti", "ble", positiveMeasure],
    ["fulli", "ful", positiveMeasure],
    // NLTK: the "l" stays with the stem, so the measure is taken of the word minus "ogi".
    ["logi", "log", () => positiveMeasure(word.slice(0, -3))],
  ]);
}

/** Step 3: -ic-, -full, -ness etc. */
function step3(word: string): string {
  return applyFirstMatchingRule(word, [
    ["icate", "ic", positiveMeasure],
    ["ative", "", positiveMeasure],
    ["alize", "al", positiveMeasure],
    ["iciti", "ic", positiveMeasure],
    ["ical", "ic", positiveMeasure],
    ["ful", "", positiveMeasure],
    ["ness", "", positiveMeasure],
  ]);
}

/** Step 4: remove -ant, -ence etc. when the stem has m > 1. */
function step4(word: string): string {
  return applyFirstMatchingRule(word, [
    ["al", "", measureAboveOne],
    ["ance", "", measureAboveOne],
    ["ence", "", measureAboveOne],
    ["er", "", measureAboveOne],
    ["ic", "", measureAboveOne],
    ["able", "", measureAboveOne],
    ["ible", "", measureAboveOne],
    ["ant", "", measureAboveOne],
    ["ement", "", measureAboveOne],
    ["ment", "", measureAboveOne],
    ["ent", "", measureAboveOne],
    ["ion", "", (stem) => measure(stem) > 1 && (stem.endsWith("s") || stem.endsWith("t"))],
    ["ou", "", measureAboveOne],
    ["ism", "", measureAboveOne],
    ["ate", "", measureAboveOne],
    ["iti", "", measureAboveOne],
    ["ous", "", measureAboveOne],
    ["ive", "", measureAboveOne],
    ["ize", "", measureAboveOne],
  ]);
}

/** Step 5a: a final e goes when m > 1, or when m = 1 and the stem does not end *o. Both conditions are tried. */
function step5a(word: string): string {
  if (!word.endsWith("e")) return word;
  const stem = word.slice(0, -1);
  const m = measure(stem);
  if (m > 1 || (m === 1 && !endsCvc(stem))) return stem;
  return word;
}

/** Step 5b: -ll → -l when m > 1 (measured on the word minus one l). */
function step5b(word: string): string {
  return applyFirstMatchingRule(word, [["ll", "l", () => measure(word.slice(0, -1)) > 1]]);
}

/** NLTK `PorterStemmer().stem(word)` (NLTK_EXTENSIONS, to_lowercase=True). */
export function porterStem(word: string): string {
  const lower = word.toLowerCase();
  // NLTK looks the *original* word up in the table (it only matters for mixed-case input).
  const irregular = IRREGULAR_FORMS.get(word);
  if (irregular !== undefined) return irregular;
  if (word.length <= 2) return lower;
  let stem = step1a(lower);
  stem = step1b(stem);
  stem = step1c(stem);
  stem = step2(stem);
  stem = step3(stem);
  stem = step4(stem);
  stem = step5a(stem);
  return step5b(stem);
}
