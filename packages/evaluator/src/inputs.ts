/**
 * Everything `runEvaluation` reads besides the model, loaded and checked before anything is generated: a bad
 * MIA file or MMLU directory fails in a second, not after minutes of generation.
 */
import { loadMiaRows, loadTaskRows, type MiaRow, type MmluSubject, type TaskRow } from "@lethe/core";
import { loadMultipleChoice } from "./mmlu/load.js";

export interface RunInputs {
  /** Dataset files (.jsonl, .parquet, .json): the rows to generate for. */
  forget: string;
  retain: string;
  /** MIA documents (`id, document`); both or neither. */
  miaMember?: string;
  miaNonmember?: string;
  /** open-instruct's MMLU layout: a directory (test/<subject>_test.csv, dev/<subject>_dev.csv) or one CSV file. */
  mmlu?: string;
}

export interface LoadedInputs {
  forgetRows: TaskRow[];
  retainRows: TaskRow[];
  mia?: { members: MiaRow[]; nonmembers: MiaRow[] };
  mmlu?: MmluSubject[];
}

/** Load and validate every input; `ntrain` decides whether MMLU needs its dev files. */
export async function loadRunInputs(
  inputs: RunInputs,
  options: { ntrain?: number } = {},
): Promise<LoadedInputs> {
  if ((inputs.miaMember === undefined) !== (inputs.miaNonmember === undefined)) {
    throw new Error("MIA needs both member and non-member documents, or neither");
  }
  const [forgetRows, retainRows, members, nonmembers, mmlu] = await Promise.all([
    loadTaskRows(inputs.forget, { split: "forget" }),
    loadTaskRows(inputs.retain, { split: "retain" }),
    inputs.miaMember === undefined ? undefined : loadMiaRows(inputs.miaMember),
    inputs.miaNonmember === undefined ? undefined : loadMiaRows(inputs.miaNonmember),
    inputs.mmlu === undefined ? undefined : loadMultipleChoice(inputs.mmlu, options),
  ]);
  return {
    forgetRows,
    retainRows,
    ...(members !== undefined && nonmembers !== undefined ? { mia: { members, nonmembers } } : {}),
    ...(mmlu !== undefined ? { mmlu } : {}),
  };
}
