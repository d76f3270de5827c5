import {
  DatasetError,
  describeType,
  type LoadOptions,
  type RowIssue,
  readRecords,
  rowKind,
  type Split,
  taskRowSchema,
} from "@lethe/core";
import type { GeneratedRow } from "../scores/task-scores.js";

/**
 * Prediction rows: the dataset rows (`id, input, output, task`, optionally `split`) plus `generation`,
 * the text a model produced for `input`. Any system can write them; `lethe-eval score` reads them.
 */
export interface PredictionRow extends GeneratedRow {
  input: string;
  split: Split;
}

/**
 * Read and validate a prediction file (.jsonl, .json or .parquet). Every bad row is reported with file
 * and line (DatasetError); a row whose `split` says the other split than the file's role is bad too
 * (swapped --forget/--retain arguments are the usual cause).
 */
export async function loadPredictionRows(
  source: string,
  split: Split,
  options: LoadOptions = {},
): Promise<PredictionRow[]> {
  const raw = await readRecords(source, options);
  const issues: RowIssue[] = [...raw.issues];
  const rows: PredictionRow[] = [];
  for (const record of raw.records) {
    const value = record.value;
    const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
    const fields = isObject ? (value as Record<string, unknown>) : undefined;
    const withSplit = fields !== undefined && !("split" in fields) ? { ...fields, split } : value;
    const parsed = taskRowSchema.safeParse(withSplit);
    const rowIssues: RowIssue[] = [];
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = issue.path[0];
        rowIssues.push(
          field === undefined
            ? { location: record.location, message: `row ${issue.message}` }
            : { location: record.location, field: String(field), message: issue.message },
        );
      }
    }
    if (fields !== undefined) {
      const generation = fields["generation"];
      if (typeof generation !== "string") {
        rowIssues.push({
          location: record.location,
          field: "generation",
          message:
            generation === undefined ? "is missing" : `must be a string, got ${describeType(generation)}`,
        });
      }
      if (parsed.success && parsed.data.split !== split) {
        rowIssues.push({
          location: record.location,
          field: "split",
          message: `is ${JSON.stringify(parsed.data.split)} but the file was given as the ${split} split`,
        });
      }
    }
    if (rowIssues.length > 0 || !parsed.success) {
      issues.push(...rowIssues);
      continue;
    }
    const row = parsed.data;
    rows.push({
      id: row.id,
      input: row.input,
      output: row.output,
      task: row.task,
      split: row.split,
      kind: rowKind(row.id),
      generation: fields!["generation"] as string,
    });
  }
  if (issues.length > 0) throw new DatasetError(raw.file, issues);
  return rows;
}

/** One document's mean token NLL, as written by `lethe-eval run` or any other system. */
export interface NllRow {
  id: string;
  nll: number;
}

/** Read `{id, nll}` rows; ids may be strings or integers, `nll` must be a finite number. */
export async function loadNllRows(source: string, options: LoadOptions = {}): Promise<NllRow[]> {
  const raw = await readRecords(source, options);
  const issues: RowIssue[] = [...raw.issues];
  const rows: NllRow[] = [];
  for (const record of raw.records) {
    const value = record.value;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      issues.push({
        location: record.location,
        message: `row must be an object, got ${describeType(value)}`,
      });
      continue;
    }
    const fields = value as Record<string, unknown>;
    const id = fields["id"];
    const nll = fields["nll"];
    let ok = true;
    if (
      typeof id !== "string" &&
      !(typeof id === "number" && Number.isInteger(id)) &&
      typeof id !== "bigint"
    ) {
      issues.push({
        location: record.location,
        field: "id",
        message: id === undefined ? "is missing" : `must be a string or an integer, got ${describeType(id)}`,
      });
      ok = false;
    }
    if (typeof nll !== "number" || !Number.isFinite(nll)) {
      issues.push({
        location: record.location,
        field: "nll",
        message: nll === undefined ? "is missing" : `must be a finite number, got ${describeType(nll)}`,
      });
      ok = false;
    }
    if (ok) rows.push({ id: String(id), nll: nll as number });
  }
  if (issues.length > 0) throw new DatasetError(raw.file, issues);
  return rows;
}
