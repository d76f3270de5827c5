/**
 * Multiple-choice data in the layout open-instruct's MMLU eval reads (`eval/mmlu/run_eval.py`):
 *
 *   <dir>/test/<subject>_test.csv   the questions scored; the subjects are the files found here
 *   <dir>/dev/<subject>_dev.csv     few-shot examples (optional here; open-instruct takes the first ntrain)
 *
 * Each CSV has no header and the columns question, A, B, C, D, answer, with answer one of A-D.
 */

import { encodeCsv, parseCsv } from "./csv.js";
import { DatasetError, type RowIssue } from "./issues.js";
import { joinUri, locateDir, type StoreOption } from "./location.js";

export const MMLU_CHOICES = ["A", "B", "C", "D"] as const;
export type MmluAnswer = (typeof MMLU_CHOICES)[number];

export interface MmluQuestion {
  question: string;
  choices: [string, string, string, string];
  answer: MmluAnswer;
}

export interface MmluSubject {
  /** e.g. `elementary_mathematics`; the file names are `<subject>_test.csv` and `<subject>_dev.csv`. */
  subject: string;
  dev: MmluQuestion[];
  test: MmluQuestion[];
}

const COLUMNS = ["question", "A", "B", "C", "D", "answer"] as const;
const utf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();

export function parseMmluCsv(
  bytes: Uint8Array,
  file: string,
): { questions: MmluQuestion[]; issues: RowIssue[] } {
  const questions: MmluQuestion[] = [];
  const issues: RowIssue[] = [];
  for (const { line, fields } of parseCsv(utf8.decode(bytes), file)) {
    const location = { file, line };
    if (fields.length !== COLUMNS.length) {
      issues.push({
        location,
        message: `expected ${COLUMNS.length} columns (${COLUMNS.join(", ")}), got ${fields.length}`,
      });
      continue;
    }
    const [question, a, b, c, d, answer] = fields as [string, string, string, string, string, string];
    if (!(MMLU_CHOICES as readonly string[]).includes(answer)) {
      issues.push({
        location,
        field: "answer",
        message: `must be one of ${MMLU_CHOICES.join(", ")}, got ${JSON.stringify(answer)}`,
      });
      continue;
    }
    questions.push({ question, choices: [a, b, c, d], answer: answer as MmluAnswer });
  }
  return { questions, issues };
}

export function encodeMmluCsv(questions: readonly MmluQuestion[]): Uint8Array {
  return encoder.encode(encodeCsv(questions.map((q) => [q.question, ...q.choices, q.answer])));
}

export interface CheckedMmlu {
  dir: string;
  subjects: MmluSubject[];
  issues: RowIssue[];
  /** Subjects without a `dev/<subject>_dev.csv` (no few-shot examples). */
  missingDev: string[];
}

/** Every subject under `dir` and every bad row; a missing dev file gives `dev: []`. */
export async function inspectMmlu(dir: string, options: StoreOption = {}): Promise<CheckedMmlu> {
  const { store, display } = locateDir(dir, options);
  const result: CheckedMmlu = { dir: display, subjects: [], issues: [], missingDev: [] };
  const names: string[] = [];
  for await (const info of store.list("test/")) {
    const match = /^test\/([^/]+)_test\.csv$/.exec(info.key);
    if (match) names.push(match[1] as string);
  }
  for (const subject of names.sort()) {
    const read = async (key: string): Promise<MmluQuestion[]> => {
      if ((await store.head(key)) === null) return [];
      const parsed = parseMmluCsv(await store.get(key), joinUri(display, key));
      result.issues.push(...parsed.issues);
      return parsed.questions;
    };
    const test = await read(`test/${subject}_test.csv`);
    if ((await store.head(`dev/${subject}_dev.csv`)) === null) result.missingDev.push(subject);
    const dev = await read(`dev/${subject}_dev.csv`);
    result.subjects.push({ subject, dev, test });
  }
  return result;
}

/** The subjects under `dir`; throws DatasetError on any bad row and if there is no test file at all. */
export async function loadMmlu(dir: string, options: StoreOption = {}): Promise<MmluSubject[]> {
  const checked = await inspectMmlu(dir, options);
  if (checked.subjects.length === 0) {
    throw new DatasetError(checked.dir, [
      {
        location: { file: checked.dir },
        message: "no test/<subject>_test.csv files (open-instruct MMLU layout)",
      },
    ]);
  }
  if (checked.issues.length > 0) throw new DatasetError(checked.dir, checked.issues);
  return checked.subjects;
}

export async function writeMmlu(
  dir: string,
  subjects: readonly MmluSubject[],
  options: StoreOption = {},
): Promise<string[]> {
  const { store } = locateDir(dir, options);
  const keys: string[] = [];
  for (const { subject, dev, test } of subjects) {
    for (const [key, questions] of [
      [`dev/${subject}_dev.csv`, dev],
      [`test/${subject}_test.csv`, test],
    ] as const) {
      await store.put(key, encodeMmluCsv(questions));
      keys.push(key);
    }
  }
  return keys;
}
