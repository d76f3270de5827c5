/**
 * The prompt layout of open-instruct's MMLU eval (`eval/mmlu/run_eval.py`, no chat format):
 *
 *   The following are multiple choice questions (with answers) about  abstract algebra.\n\n
 *   <dev question 1>\nA. <a>\nB. <b>\nC. <c>\nD. <d>\nAnswer: <letter>\n\n
 *   ... (k dev examples, k = ntrain = 5 by default)
 *   <test question>\nA. <a>\nB. <b>\nC. <c>\nD. <d>\nAnswer:
 *
 * The double space after "about" is real: `format_subject` prefixes every word of the subject with a space.
 * The model's next token is then compared among the last tokens of " A", " B", " C", " D".
 */

export const CHOICE_LETTERS = ["A", "B", "C", "D"] as const;

/** One question as its cells are written into the prompt (after pandas' column formatting). */
export interface MmluItem {
  question: string;
  choices: readonly string[];
  answer: string;
}

/** `format_subject`: "abstract_algebra" → " abstract algebra". */
export function formatSubject(subject: string): string {
  return subject
    .split("_")
    .map((word) => ` ${word}`)
    .join("");
}

/** `format_example`: the question, lettered choices and "Answer:", plus " X\n\n" when the answer is shown. */
export function formatExample(item: MmluItem, includeAnswer: boolean): string {
  let prompt = item.question;
  item.choices.forEach((choice, j) => {
    prompt += `\n${CHOICE_LETTERS[j]}. ${choice}`;
  });
  prompt += "\nAnswer:";
  if (includeAnswer) prompt += ` ${item.answer}\n\n`;
  return prompt;
}

/** `gen_prompt`: the header and the first k dev examples with their answers. */
export function fewShotPrefix(dev: readonly MmluItem[], subject: string, k: number): string {
  let prompt = `The following are multiple choice questions (with answers) about ${formatSubject(subject)}.\n\n`;
  for (let i = 0; i < k; i++) prompt += formatExample(dev[i]!, true);
  return prompt;
}

/**
 * The full prompt for one test question, dropping dev examples (k − 1, k − 2, ...) while the prompt is
 * longer than `maxTokens` tokens (counted without special tokens), as open-instruct does.
 */
export function mmluPrompt(
  dev: readonly MmluItem[],
  test: MmluItem,
  subject: string,
  ntrain: number,
  countTokens: (text: string) => number,
  maxTokens = 2048,
): string {
  const end = formatExample(test, false);
  let k = Math.min(ntrain, dev.length);
  let prompt = fewShotPrefix(dev, subject, k) + end;
  while (k > 0 && countTokens(prompt) > maxTokens) {
    k -= 1;
    prompt = fewShotPrefix(dev, subject, k) + end;
  }
  return prompt;
}
