import { FormatError } from "../errors.js";

/**
 * Where a record came from, in the words of its format: a JSONL line (1-based), a Parquet or records-JSON
 * row index (0-based, as pandas would number it), or the row key of a pandas column-oriented JSON file.
 */
export type RecordLocation =
  | { file: string; line: number }
  | { file: string; row: number }
  | { file: string; key: string }
  | { file: string };

export function formatLocation(loc: RecordLocation): string {
  if ("line" in loc) return `${loc.file}:${loc.line}`;
  if ("row" in loc) return `${loc.file}: row ${loc.row}`;
  if ("key" in loc) return `${loc.file}: row ${JSON.stringify(loc.key)}`;
  return loc.file;
}

/** One problem with one record (or with the whole file when there is no row). */
export interface RowIssue {
  location: RecordLocation;
  /** The offending field, when the problem is one field. */
  field?: string;
  message: string;
}

/** `forget.jsonl:7: field 'output' must be a string, got number`. */
export function formatIssue(issue: RowIssue): string {
  const what = issue.field === undefined ? issue.message : `field '${issue.field}' ${issue.message}`;
  return `${formatLocation(issue.location)}: ${what}`;
}

/** Rows with at least one issue (a row can have several). */
export function countBadRows(issues: readonly RowIssue[]): number {
  return new Set(issues.map((issue) => formatLocation(issue.location))).size;
}

/** "1 bad row", "3 bad rows". */
export function badRows(issues: readonly RowIssue[]): string {
  const n = countBadRows(issues);
  return n === 1 ? "1 bad row" : `${n} bad rows`;
}

/** How many issues a DatasetError message spells out before summarising the rest. */
const MESSAGE_LIMIT = 20;

/** A file with rows that do not fit the schema. `issues` holds every one, the message the first few. */
export class DatasetError extends FormatError {
  override readonly name = "DatasetError";

  constructor(
    readonly file: string,
    readonly issues: readonly RowIssue[],
  ) {
    const shown = issues.slice(0, MESSAGE_LIMIT).map(formatIssue);
    if (issues.length > MESSAGE_LIMIT) shown.push(`… and ${issues.length - MESSAGE_LIMIT} more`);
    const wholeFile = issues.every(
      (i) => !("line" in i.location || "row" in i.location || "key" in i.location),
    );
    super(wholeFile ? shown.join("\n") : `${file}: ${badRows(issues)}\n${shown.join("\n")}`);
  }
}

/** JSON-ish description of a value's type for messages: "number", "null", "array", "object". */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array) return "bytes";
  return typeof value;
}
