/**
 * A small 4-option multiple-choice set in MMLU's shape, with computed (so always correct) answers. The
 * subject names are real MMLU subjects, so open-instruct's category tables accept them.
 */
import { MMLU_CHOICES, type MmluAnswer, type MmluQuestion, type MmluSubject } from "../mmlu.js";
import type { Rng } from "../rng.js";

/** Place the correct option under a random letter; `distractors` must hold >= 3 distinct wrong options. */
function choiceQuestion(
  rng: Rng,
  question: string,
  correct: string,
  distractors: readonly string[],
): MmluQuestion {
  const wrong = rng.shuffled([...new Set(distractors)].filter((d) => d !== correct)).slice(0, 3);
  if (wrong.length < 3) throw new Error(`multiple choice: not enough distractors for "${question}"`);
  const letter = rng.below(4);
  const choices = [...wrong];
  choices.splice(letter, 0, correct);
  return {
    question,
    choices: choices as [string, string, string, string],
    answer: MMLU_CHOICES[letter] as MmluAnswer,
  };
}

function nearby(rng: Rng, value: number, spread: number): string[] {
  const out: string[] = [];
  for (const offset of rng.shuffled([1, 2, 3, 4, 5, 10, spread].flatMap((d) => [d, -d]))) {
    if (value + offset >= 0) out.push(String(value + offset));
  }
  return out;
}

function arithmetic(rng: Rng): MmluQuestion {
  const op = rng.below(3);
  if (op === 0) {
    const a = rng.int(12, 499);
    const b = rng.int(12, 499);
    return choiceQuestion(rng, `What is ${a} + ${b}?`, String(a + b), nearby(rng, a + b, 100));
  }
  if (op === 1) {
    const a = rng.int(100, 999);
    const b = rng.int(11, a - 1);
    return choiceQuestion(rng, `What is ${a} - ${b}?`, String(a - b), nearby(rng, a - b, 100));
  }
  const a = rng.int(3, 29);
  const b = rng.int(3, 29);
  return choiceQuestion(rng, `What is ${a} times ${b}?`, String(a * b), [
    String(a * (b + 1)),
    String(a * (b - 1)),
    String((a + 1) * b),
    ...nearby(rng, a * b, 10),
  ]);
}

function binary(rng: Rng): MmluQuestion {
  const n = rng.int(9, 255);
  if (rng.below(2) === 0) {
    return choiceQuestion(
      rng,
      `What is the decimal value of the binary number ${n.toString(2)}?`,
      String(n),
      [String(n ^ 1), String(n ^ 2), String(n ^ 4), String(n ^ 8), String(n + 1)],
    );
  }
  return choiceQuestion(
    rng,
    `Which binary number is equal to ${n} in decimal?`,
    n.toString(2),
    [n ^ 1, n ^ 2, n ^ 4, n ^ 8, n ^ 16].map((m) => m.toString(2)),
  );
}

function statistics(rng: Rng): MmluQuestion {
  const count = rng.pick([5, 7]);
  const values = rng.shuffled(Array.from({ length: 40 }, (_, i) => i + 1)).slice(0, count);
  const sorted = [...values].sort((x, y) => x - y);
  const list = values.join(", ");
  if (rng.below(2) === 0) {
    const median = sorted[(count - 1) / 2] as number;
    return choiceQuestion(rng, `What is the median of the data set ${list}?`, String(median), [
      ...sorted.map(String),
      ...nearby(rng, median, 7),
    ]);
  }
  const range = (sorted[count - 1] as number) - (sorted[0] as number);
  return choiceQuestion(rng, `What is the range of the data set ${list}?`, String(range), [
    String(sorted[count - 1]),
    String(sorted[0]),
    ...nearby(rng, range, 6),
  ]);
}

const SUBJECTS: readonly [string, (rng: Rng) => MmluQuestion][] = [
  ["elementary_mathematics", arithmetic],
  ["high_school_computer_science", binary],
  ["high_school_statistics", statistics],
];

/** MMLU dev sets have 5 questions per subject; `testPerSubject` sets the test size. */
export function multipleChoice(rng: Rng, testPerSubject: number): MmluSubject[] {
  return SUBJECTS.map(([subject, make]) => {
    const sub = rng.fork(subject);
    return {
      subject,
      dev: Array.from({ length: 5 }, () => make(sub)),
      test: Array.from({ length: testPerSubject }, () => make(sub)),
    };
  });
}
