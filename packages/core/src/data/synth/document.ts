/** A synthetic document and the task rows it yields (one sentence-completion row, one or more QA rows). */
import type { Rng } from "../rng.js";
import type { Split, Task, TaskRow } from "../schema.js";

export interface QuestionAnswer {
  question: string;
  answer: string;
}

export interface SynthDocument {
  /** The document part of the row ids: `"<uuid>"` (quotes included) for Task1, `<uuid>` Task2, digits Task3. */
  id: string;
  task: Task;
  text: string;
  /** Index of the space where the `sc` row's input ends and its continuation begins. */
  cut: number;
  /** At most 10: the row index is a single digit. */
  questions: QuestionAnswer[];
}

/**
 * Where to cut a document for its sc row: the space nearest to `fraction` of its length, moved by up to
 * ±5% of the length. The public data cuts mid-sentence at a word boundary: near 80% of the document for
 * Task1 and Task3, near 40% for Task2.
 */
export function cutNear(rng: Rng, text: string, fraction: number): number {
  const target = Math.round(text.length * (fraction + (rng.float() - 0.5) * 0.1));
  for (let d = 0; d < text.length; d++) {
    for (const i of [target - d, target + d]) {
      if (i > 0 && i < text.length - 1 && text[i] === " ") return i;
    }
  }
  throw new Error(`synthetic document has no space to cut at: ${JSON.stringify(text)}`);
}

/**
 * `<id>sc1` (prefix → continuation; the public data numbers its sc rows from 1) and `<id>qa0`, `qa1`, ...
 * The input and output join with one space back into the document text.
 */
export function documentRows(doc: SynthDocument, split: Split): TaskRow[] {
  const rows: TaskRow[] = [
    {
      id: `${doc.id}sc1`,
      input: doc.text.slice(0, doc.cut),
      output: doc.text.slice(doc.cut + 1),
      task: doc.task,
      split,
    },
  ];
  doc.questions.forEach(({ question, answer }, i) => {
    rows.push({ id: `${doc.id}qa${i}`, input: question, output: answer, task: doc.task, split });
  });
  return rows;
}

/** Fill `{name}` slots; a slot with no value is a bug in a template, so it throws. */
export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`template slot {${key}} has no value: ${template}`);
    return value;
  });
}
