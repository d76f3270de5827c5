/** Rows to a micro-batch by the configured data format. */
import type { TaskRow } from "@lethe/core";
import { collate, type TrainBatch } from "./collate.js";
import { encodePromptTarget, encodeText } from "./encode.js";
import type { TextTokenizer } from "./tokenizer.js";

/** The `data` fields that shape a batch (a TrainConfig's `data` fits). */
export interface BatchRules {
  format: "prompt_target" | "text";
  max_len: number;
  prompt_fraction: number;
  task_max_len: Partial<Record<TaskRow["task"], number>>;
}

/**
 * `prompt_target` rows are left-padded to `max_len` (as ZJU, §1.2); `text` rows are capped per task and
 * left-padded to the longest row of the batch (as the RMU code, §2.3).
 */
export function buildBatch(
  rows: readonly TaskRow[],
  tokenizer: TextTokenizer,
  rules: BatchRules,
): TrainBatch {
  if (rules.format === "prompt_target") {
    const options = { maxLen: rules.max_len, promptFraction: rules.prompt_fraction };
    const encoded = rows.map((row) => encodePromptTarget(row, tokenizer, options));
    return collate(encoded, tokenizer.padTokenId, rules.max_len);
  }
  const encoded = rows.map((row) =>
    encodeText(row, tokenizer, rules.task_max_len[row.task] ?? rules.max_len),
  );
  return collate(encoded, tokenizer.padTokenId);
}
