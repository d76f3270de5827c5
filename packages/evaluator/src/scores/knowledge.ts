/**
 * Characters Python's `str.strip()` removes: those with `str.isspace()` true. This differs from
 * JavaScript's `trim()` (Python also strips U+001C–U+001F and U+0085; JavaScript also strips U+FEFF).
 */
const PYTHON_WHITESPACE =
  "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PYTHON_WHITESPACE.includes(text[start]!)) start++;
  while (end > start && PYTHON_WHITESPACE.includes(text[end - 1]!)) end--;
  return text.slice(start, end);
}

/** The knowledge score of one QA row: `int(gt.strip().lower() == gen.strip().lower())`. */
export function knowledgeScore(reference: string, generation: string): 0 | 1 {
  return pythonStrip(reference).toLowerCase() === pythonStrip(generation).toLowerCase() ? 1 : 0;
}
