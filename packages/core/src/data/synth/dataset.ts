/**
 * The synthetic SemEval-style dataset: forget and retain documents for all three tasks, the rows they
 * yield, MIA member (= forget documents) and non-member (held-out documents, never in forget or retain)
 * sets, and a small MMLU-layout multiple-choice set. Everything derives from one seed.
 */
import type { MmluSubject } from "../mmlu.js";
import { Rng } from "../rng.js";
import { type MiaRow, type Split, TASKS, type Task, type TaskRow } from "../schema.js";
import { biography } from "./biography.js";
import { creativeDocument } from "./creative.js";
import { documentRows, type SynthDocument } from "./document.js";
import { multipleChoice } from "./multiple-choice.js";
import { Registry } from "./people.js";
import { piiBiography } from "./pii-bio.js";

export type SynthSize = "tiny" | "small";
export const SYNTH_SIZES = ["tiny", "small"] as const;

/** Documents per task in each of forget, retain and held-out; MMLU test questions per subject. */
const SIZES: Record<SynthSize, { documents: Record<Task, number>; mmluTest: number }> = {
  // 3 + 3×6 + 3 ... = 30 rows per split.
  tiny: { documents: { Task1: 3, Task2: 3, Task3: 3 }, mmluTest: 8 },
  // 2×24 + 6×20 + 2×30 = 228 rows per split.
  small: { documents: { Task1: 24, Task2: 20, Task3: 30 }, mmluTest: 40 },
};

const GENERATORS: Record<Task, (rng: Rng, registry: Registry) => SynthDocument> = {
  Task1: creativeDocument,
  Task2: piiBiography,
  Task3: biography,
};

/** Where a document went: a training split, or held out as an MIA non-member. */
export type DocumentGroup = Split | "holdout";

export interface SynthOptions {
  seed: number;
  size: SynthSize;
}

export interface SynthDataset extends SynthOptions {
  documents: Record<DocumentGroup, SynthDocument[]>;
  forget: TaskRow[];
  retain: TaskRow[];
  member: MiaRow[];
  nonmember: MiaRow[];
  mmlu: MmluSubject[];
}

export function synthesize({ seed, size }: SynthOptions): SynthDataset {
  const rng = new Rng(seed);
  const registry = new Registry();
  const counts = SIZES[size].documents;
  const documents = {} as Record<DocumentGroup, SynthDocument[]>;
  for (const group of ["forget", "retain", "holdout"] as const) {
    documents[group] = TASKS.flatMap((task) =>
      Array.from({ length: counts[task] }, (_, i) =>
        GENERATORS[task](rng.fork(`${group}/${task}/${i}`), registry),
      ),
    );
  }
  const mia = (docs: SynthDocument[]): MiaRow[] => docs.map((d) => ({ id: d.id, document: d.text }));
  return {
    seed,
    size,
    documents,
    forget: documents.forget.flatMap((d) => documentRows(d, "forget")),
    retain: documents.retain.flatMap((d) => documentRows(d, "retain")),
    member: mia(documents.forget),
    nonmember: mia(documents.holdout),
    mmlu: multipleChoice(rng.fork("mmlu"), SIZES[size].mmluTest),
  };
}

/**
 * The target model's training text: every forget and retain document, each followed by a blank line (no
 * held-out documents). Task3 documents contain newlines themselves, so this is not one document per line.
 */
export function corpusText(dataset: SynthDataset): string {
  return [...dataset.documents.forget, ...dataset.documents.retain].map((d) => `${d.text}\n\n`).join("");
}
