/**
 * Writing rows as JSONL, Parquet (all columns UTF-8 strings, snappy, as pandas/pyarrow would read them)
 * or pandas column-oriented JSON. Fields are written in schema order; the output bytes depend only on
 * the rows, so a seeded generator writes identical files on every run.
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import { locate, type StoreOption } from "./location.js";
import { type DataFormat, formatOf } from "./records.js";
import { MIA_FIELDS, type MiaRow, TASK_FIELDS, type TaskRow } from "./schema.js";

type Row = Readonly<Record<string, string>>;

const utf8 = new TextEncoder();

function ordered(row: Row, fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of fields) out[field] = row[field] as string;
  return out;
}

export function encodeJsonl(rows: readonly Row[], fields: readonly string[]): Uint8Array {
  return utf8.encode(rows.map((row) => JSON.stringify(ordered(row, fields)) + "\n").join(""));
}

/** pandas `df.to_json(orient="columns")`: column → row index (as a string) → value. */
export function encodePandasColumns(rows: readonly Row[], fields: readonly string[]): Uint8Array {
  const doc: Record<string, Record<string, string>> = {};
  for (const field of fields) {
    const column: Record<string, string> = {};
    rows.forEach((row, i) => {
      column[String(i)] = row[field] as string;
    });
    doc[field] = column;
  }
  return utf8.encode(JSON.stringify(doc));
}

export function encodeParquet(rows: readonly Row[], fields: readonly string[]): Uint8Array {
  const buffer = parquetWriteBuffer({
    columnData: fields.map((name) => ({
      name,
      data: rows.map((row) => row[name] as string),
      type: "STRING" as const,
      nullable: false,
    })),
    createdBy: "lethe",
  });
  return new Uint8Array(buffer);
}

export function encodeRows(rows: readonly Row[], fields: readonly string[], format: DataFormat): Uint8Array {
  switch (format) {
    case "jsonl":
      return encodeJsonl(rows, fields);
    case "json":
      return encodePandasColumns(rows, fields);
    case "parquet":
      return encodeParquet(rows, fields);
  }
}

export interface WriteOptions extends StoreOption {
  /** Override the format the extension implies. */
  format?: DataFormat;
}

async function writeRows(
  dest: string,
  rows: readonly Row[],
  fields: readonly string[],
  options: WriteOptions,
): Promise<void> {
  const { store, key, display } = locate(dest, options);
  await store.put(key, encodeRows(rows, fields, options.format ?? formatOf(key, display)));
}

/** Write task rows to `dest` (`.jsonl`, `.parquet` or pandas-columns `.json`). */
export function writeTaskRows(
  dest: string,
  rows: readonly TaskRow[],
  options: WriteOptions = {},
): Promise<void> {
  return writeRows(dest, rows, TASK_FIELDS, options);
}

/** Write MIA rows (`id, document`) to `dest`. */
export function writeMiaRows(
  dest: string,
  rows: readonly MiaRow[],
  options: WriteOptions = {},
): Promise<void> {
  return writeRows(dest, rows, MIA_FIELDS, options);
}
