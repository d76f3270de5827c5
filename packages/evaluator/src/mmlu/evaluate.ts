import type { MmluQuestion, MmluSubject } from "@lethe/core";
import { type BatchResume, mapInBatches } from "../model/batches.js";
import type { EvalModel } from "../model/eval-model.js";
import { pandasColumnText } from "./pandas-columns.js";
import { CHOICE_LETTERS, type MmluItem, mmluPrompt } from "./prompt.js";

export interface MmluOptions {
  /** Few-shot examples from dev (open-instruct's --ntrain, default 5). */
  ntrain?: number;
  /** Longest prompt in tokens before dev examples are dropped (open-instruct: 2048). */
  maxPromptTokens?: number;
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
  /** Answer log-probabilities already computed (by question index over all subjects). */
  resume?: BatchResume<number[]>;
}

export interface MmluResult {
  /** Accuracy over all questions of all subjects (open-instruct's `average_acc`). */
  average_acc: number;
  questions: number;
  subjects: Record<string, { accuracy: number; questions: number }>;
}

/** The cells of one CSV file as open-instruct's prompt shows them (pandas' per-column type inference). */
export function asPromptItems(questions: readonly MmluQuestion[]): MmluItem[] {
  const column = (pick: (q: MmluQuestion) => string): string[] => pandasColumnText(questions.map(pick));
  const question = column((q) => q.question);
  const choices = [0, 1, 2, 3].map((j) => column((q) => q.choices[j]!));
  return questions.map((q, i) => ({
    question: question[i]!,
    choices: choices.map((c) => c[i]!),
    answer: q.answer,
  }));
}

/**
 * Few-shot multiple choice as open-instruct's MMLU eval: for each test question the prompt of
 * `mmluPrompt`, then the argmax over the probabilities of the last tokens of " A", " B", " C", " D"
 * (first letter wins a tie, as torch.argmax); accuracy over all questions.
 */
export async function evaluateMmlu(
  model: EvalModel,
  subjects: readonly MmluSubject[],
  options: MmluOptions = {},
): Promise<MmluResult> {
  const ntrain = options.ntrain ?? 5;
  const maxTokens = options.maxPromptTokens ?? 2048;
  const candidateIds = CHOICE_LETTERS.map((letter) => {
    const ids = model.tokenize(` ${letter}`, { addSpecialTokens: false });
    const last = ids.at(-1);
    if (last === undefined) throw new Error(`the tokenizer gives no tokens for " ${letter}"`);
    return last;
  });
  const countTokens = (text: string): number => model.tokenize(text, { addSpecialTokens: false }).length;

  const prompts: { subject: string; prompt: string; answer: string }[] = [];
  for (const { subject, dev, test } of subjects) {
    // pandas infers column types over the whole dev file; open-instruct then keeps the first ntrain rows.
    const devItems = asPromptItems(dev).slice(0, ntrain);
    for (const item of asPromptItems(test)) {
      prompts.push({
        subject,
        prompt: mmluPrompt(devItems, item, subject, ntrain, countTokens, maxTokens),
        answer: item.answer,
      });
    }
  }
  const logProbs = await mapInBatches(
    prompts,
    options.batchSize ?? 8,
    (p) => p.prompt.length,
    (batch) =>
      model.nextTokenLogProbs(
        batch.map((p) => p.prompt),
        candidateIds,
      ),
    options.onBatch,
    options.resume,
  );
  const perSubject = new Map<string, { correct: number; questions: number }>();
  let correct = 0;
  prompts.forEach((p, i) => {
    const scores = logProbs[i]!;
    let best = 0;
    for (let j = 1; j < scores.length; j++) if (scores[j]! > scores[best]!) best = j;
    const hit = CHOICE_LETTERS[best] === p.answer ? 1 : 0;
    correct += hit;
    const s = perSubject.get(p.subject) ?? { correct: 0, questions: 0 };
    s.correct += hit;
    s.questions += 1;
    perSubject.set(p.subject, s);
  });
  const subjectsOut: MmluResult["subjects"] = {};
  for (const [name, s] of perSubject)
    subjectsOut[name] = { accuracy: s.correct / s.questions, questions: s.questions };
  return {
    average_acc: prompts.length === 0 ? 0 : correct / prompts.length,
    questions: prompts.length,
    subjects: subjectsOut,
  };
}
