/**
 * One row to token ids and labels, unpadded, by the two data formats of the spec
 * (docs/unlearning.md §1.2 and §2.3). Labels follow Hugging Face: the label at t is the token at t
 * (−100 = not scored); the shift to next-token targets happens in the loss.
 */
import type { TaskRow } from "@lethe/core";
import type { TextTokenizer } from "./tokenizer.js";

export const IGNORE = -100;

export interface EncodedRow {
  ids: number[];
  labels: number[];
}

export interface PromptTargetOptions {
  maxLen: number;
  promptFraction: number;
}

/**
 * ZJU's rule (§1.2): prompt = input, left-truncated to its last ⌊promptFraction·maxLen⌋ tokens; target =
 * output + EOS; labels on the target only; the whole cut to its first maxLen tokens (an over-long target
 * loses its tail). Padding to maxLen is the collator's job.
 */
export function encodePromptTarget(
  row: TaskRow,
  tokenizer: TextTokenizer,
  o: PromptTargetOptions,
): EncodedRow {
  const keep = Math.floor(o.promptFraction * o.maxLen);
  const fullPrompt = tokenizer.encode(row.input);
  // slice(-0) would keep everything, so cut from an explicit start.
  const prompt = fullPrompt.slice(Math.max(0, fullPrompt.length - keep));
  const target = [...tokenizer.encode(row.output), tokenizer.eosTokenId];
  const ids = [...prompt, ...target].slice(0, o.maxLen);
  const labels = [...prompt.map(() => IGNORE), ...target].slice(0, o.maxLen);
  return { ids, labels };
}

/**
 * The RMU family's rule (§2.3): the text `input + " " + output`, every token labelled, right-truncated to
 * `cap` tokens (the task's `task_max_len`, else `max_len`).
 */
export function encodeText(row: TaskRow, tokenizer: TextTokenizer, cap: number): EncodedRow {
  const ids = tokenizer.encode(`${row.input} ${row.output}`).slice(0, cap);
  return { ids, labels: [...ids] };
}
