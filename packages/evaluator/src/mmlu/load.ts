import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import {
  DatasetError,
  FormatError,
  inspectMmlu,
  type MmluQuestion,
  type MmluSubject,
  parseMmluCsv,
} from "@lethe/core";

function readCsv(file: string): MmluQuestion[] {
  const { questions, issues } = parseMmluCsv(readFileSync(file), file);
  if (issues.length > 0) throw new DatasetError(file, issues);
  return questions;
}

/**
 * Multiple-choice data in open-instruct's layout: a directory (`test/<subject>_test.csv`,
 * `dev/<subject>_dev.csv`; any store URI), or one local CSV file in that format. For a single file the
 * subject is its name without `_test.csv`, and its few-shot examples come from `<subject>_dev.csv` beside
 * it or in `../dev/`.
 *
 * With `ntrain` > 0 (few-shot, the default 5) a subject without a dev file is an error that names the
 * missing files: open-instruct would fail on it, and silently scoring it zero-shot would change the number.
 * `ntrain: 0` is zero-shot and needs no dev files.
 */
export async function loadMultipleChoice(
  source: string,
  options: { ntrain?: number } = {},
): Promise<MmluSubject[]> {
  const ntrain = options.ntrain ?? 5;
  if (source.toLowerCase().endsWith(".csv")) {
    const base = path.basename(source).replace(/(_test)?\.csv$/i, "");
    const dir = path.dirname(source);
    const candidates = [path.join(dir, `${base}_dev.csv`), path.join(dir, "..", "dev", `${base}_dev.csv`)];
    const test = readCsv(source);
    const devFile = candidates.find((f) => existsSync(f));
    if (devFile === undefined && ntrain > 0) {
      throw new FormatError(
        `${source}: no few-shot file ${candidates.join(" or ")}: --ntrain ${ntrain} needs one; ` +
          "add it or pass --ntrain 0 for zero-shot",
      );
    }
    return [{ subject: base, test, dev: devFile === undefined ? [] : readCsv(devFile) }];
  }
  const checked = await inspectMmlu(source);
  if (checked.subjects.length === 0) {
    throw new FormatError(
      `${checked.dir}: no test/<subject>_test.csv files: --mmlu takes open-instruct's layout ` +
        "(test/<subject>_test.csv and dev/<subject>_dev.csv) or one <subject>_test.csv file",
    );
  }
  if (checked.issues.length > 0) throw new DatasetError(checked.dir, checked.issues);
  if (checked.missingDev.length > 0 && ntrain > 0) {
    const files = checked.missingDev.map((s) => `dev/${s}_dev.csv`);
    throw new FormatError(
      `${checked.dir}: missing ${files.join(", ")}: --ntrain ${ntrain} takes few-shot examples from them; ` +
        "add them or pass --ntrain 0 for zero-shot",
    );
  }
  return checked.subjects;
}
