/**
 * Loading task and MIA rows from any supported file. A row that does not fit the schema is never dropped
 * silently: `inspect*` returns it as an issue next to the good rows, `load*` throws a DatasetError that
 * lists every issue with file and line (JSONL), row index (Parquet, JSON arrays) or row key (pandas JSON).
 */
import type { z } from "zod";
import { DatasetError, type RowIssue } from "./issues.js";
import { locate, type StoreOption } from "./location.js";
import { type DataFormat, formatOf, parseRecords, type RawRecords } from "./records.js";
import { type MiaRow, miaRowSchema, type Split, type TaskRow, taskRowSchema } from "./schema.js";

export interface LoadOptions extends StoreOption {
  /** Override the format the extension implies. */
  format?: DataFormat;
  /**
   * Fill in `split` for rows that lack the field (the task site lists only `id, input, output, task`).
   * A row that has a `split` keeps its own value.
   */
  split?: Split;
}

export interface CheckedRows<T> {
  file: string;
  rows: T[];
  issues: RowIssue[];
}

function check<T>(raw: RawRecords, file: string, schema: z.ZodType<T>, fill?: Split): CheckedRows<T> {
  const result: CheckedRows<T> = { file, rows: [], issues: [] };
  for (const record of raw.records) {
    let value = record.value;
    if (fill !== undefined && typeof value === "object" && value !== null && !("split" in value)) {
      value = { ...value, split: fill };
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) {
      result.rows.push(parsed.data);
      continue;
    }
    for (const issue of parsed.error.issues) {
      const field = issue.path[0];
      result.issues.push(
        field === undefined
          ? { location: record.location, message: `row ${issue.message}` }
          : { location: record.location, field: String(field), message: issue.message },
      );
    }
  }
  // Unparseable lines come back separately from the records; report everything in file order.
  result.issues = [...raw.issues, ...result.issues].sort((a, b) => ordinal(a) - ordinal(b));
  return result;
}

function ordinal(issue: RowIssue): number {
  const loc = issue.location;
  return "line" in loc ? loc.line : "row" in loc ? loc.row : 0;
}

export function checkTaskRecords(raw: RawRecords, file: string, split?: Split): CheckedRows<TaskRow> {
  return check(raw, file, taskRowSchema, split);
}

export function checkMiaRecords(raw: RawRecords, file: string): CheckedRows<MiaRow> {
  if (raw.records.length > 0 && raw.records.every((r) => isNllRow(r.value))) {
    // A whole file of {id, nll} is the other MIA input (lethe-eval score's): one message, not one per row.
    const message =
      `holds {id, nll} rows (NLLs already computed, as \`lethe-eval score --mia-member\` reads), ` +
      "not MIA documents {id, document}";
    return { file, rows: [], issues: [{ location: { file }, message }] };
  }
  return check(raw, file, miaRowSchema);
}

function isNllRow(value: unknown): boolean {
  return typeof value === "object" && value !== null && "nll" in value && !("document" in value);
}

/** Read the raw records of a data file (no schema applied). File-level problems throw a FormatError. */
export async function readRecords(
  source: string,
  options: LoadOptions = {},
): Promise<RawRecords & { file: string }> {
  const { store, key, display } = locate(source, options);
  const format = options.format ?? formatOf(key, display);
  const raw = await parseRecords(await store.get(key), display, format);
  return { ...raw, file: display };
}

/** Every good row and every issue of a task file. */
export async function inspectTaskRows(
  source: string,
  options: LoadOptions = {},
): Promise<CheckedRows<TaskRow>> {
  const raw = await readRecords(source, options);
  return checkTaskRecords(raw, raw.file, options.split);
}

export async function inspectMiaRows(
  source: string,
  options: LoadOptions = {},
): Promise<CheckedRows<MiaRow>> {
  const raw = await readRecords(source, options);
  return checkMiaRecords(raw, raw.file);
}

function rowsOrThrow<T>(checked: CheckedRows<T>): T[] {
  if (checked.issues.length > 0) throw new DatasetError(checked.file, checked.issues);
  return checked.rows;
}

/** The rows of a task file (`forget.parquet`, `retain.jsonl`, ...); throws DatasetError on any bad row. */
export async function loadTaskRows(source: string, options: LoadOptions = {}): Promise<TaskRow[]> {
  return rowsOrThrow(await inspectTaskRows(source, options));
}

/** The rows of an MIA file (`member.jsonl`, `nonmember.jsonl`); throws DatasetError on any bad row. */
export async function loadMiaRows(source: string, options: LoadOptions = {}): Promise<MiaRow[]> {
  return rowsOrThrow(await inspectMiaRows(source, options));
}
