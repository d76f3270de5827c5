import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { DatasetError, loadMmlu, type MmluQuestion, type MmluSubject, parseMmluCsv } from "@lethe/core";

function readCsv(file: string): MmluQuestion[] {
  const { questions, issues } = parseMmluCsv(readFileSync(file), file);
  if (issues.length > 0) throw new DatasetError(file, issues);
  return questions;
}

/**
 * Multiple-choice data in open-instruct's layout: a directory (`test/<subject>_test.csv`, optional
 * `dev/<subject>_dev.csv`; any store URI), or one local CSV file in that format. For a single file the
 * subject is its name without `_test.csv`, and its few-shot examples come from `<subject>_dev.csv` beside
 * it or in `../dev/` when there is one (zero-shot otherwise).
 */
export async function loadMultipleChoice(source: string): Promise<MmluSubject[]> {
  if (!source.toLowerCase().endsWith(".csv")) return loadMmlu(source);
  const base = path.basename(source).replace(/(_test)?\.csv$/i, "");
  const dir = path.dirname(source);
  const devFile = [path.join(dir, `${base}_dev.csv`), path.join(dir, "..", "dev", `${base}_dev.csv`)].find(
    (f) => existsSync(f),
  );
  return [{ subject: base, test: readCsv(source), dev: devFile === undefined ? [] : readCsv(devFile) }];
}
