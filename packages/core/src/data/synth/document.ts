/** A synthetic document and the task rows it yields (one sentence-completion row, one or more QA rows). */
import type { Split, Task, TaskRow } from "../schema.js";

export interface QuestionAnswer {
  question: string;
  answer: string;
}

export interface SynthDocument {
  /** The document part of the row ids: `"<uuid>"` (quotes included) for Task1, `<uuid>` Task2, 8 digits Task3. */
  id: string;
  task: Task;
  sentences: string[];
  /** How many leading sentences form the `sc` row's input; the rest is its expected continuation. */
  promptSentences: number;
  /** At most 10: the row index is a single digit. */
  questions: QuestionAnswer[];
}

export function documentText(doc: SynthDocument): string {
  return doc.sentences.join(" ");
}

/**
 * `<id>sc1` (prefix → continuation; the public data numbers its sc rows from 1) and `<id>qa0`, `qa1`, ...
 * The prompt and continuation join with one space back into the document text.
 */
export function documentRows(doc: SynthDocument, split: Split): TaskRow[] {
  const rows: TaskRow[] = [
    {
      id: `${doc.id}sc1`,
      input: doc.sentences.slice(0, doc.promptSentences).join(" "),
      output: doc.sentences.slice(doc.promptSentences).join(" "),
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
