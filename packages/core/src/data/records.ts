/**
 * Turning file bytes into raw records (unvalidated objects) that remember where they came from. Three
 * formats: JSONL (one object per line, the organisers' files), Parquet, and JSON — either a records
 * array `[{...}, ...]` or the pandas `orient="columns"` object `{"id": {"0": ...}, "input": {"0": ...}}`
 * that ZJU's loader reads (spec §1.2).
 */
import * as zlib from "node:zlib";
import { type Compressors, parquetReadObjects } from "hyparquet";
import { FormatError } from "../errors.js";
import { describeType, type RecordLocation, type RowIssue } from "./issues.js";

export type DataFormat = "jsonl" | "parquet" | "json";

export interface RawRecord {
  location: RecordLocation;
  value: unknown;
}

export interface RawRecords {
  records: RawRecord[];
  /** Problems that prevented reading a record at all (bad JSON on a line, an unreadable file). */
  issues: RowIssue[];
}

/** The format named by a file's extension: `.jsonl`, `.parquet` or `.json`; errors call it `display`. */
export function formatOf(name: string, display = name): DataFormat {
  const lower = name.toLowerCase();
  if (lower.endsWith(".jsonl")) return "jsonl";
  if (lower.endsWith(".parquet")) return "parquet";
  if (lower.endsWith(".json")) return "json";
  throw new FormatError(`${display}: unknown data format; expected a .jsonl, .parquet or .json file`);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeText(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new FormatError(`${file}: not valid UTF-8 text`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function jsonErrorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function parseJsonl(bytes: Uint8Array, file: string): RawRecords {
  const out: RawRecords = { records: [], issues: [] };
  const lines = decodeText(bytes, file).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, "");
    if (line.trim() === "") continue;
    const location = { file, line: i + 1 };
    try {
      out.records.push({ location, value: JSON.parse(line) });
    } catch (err) {
      out.issues.push({ location, message: `invalid JSON (${jsonErrorText(err)})` });
    }
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A records array, or pandas column-oriented JSON (column → row key → value). */
export function parseJson(bytes: Uint8Array, file: string): RawRecords {
  let doc: unknown;
  try {
    doc = JSON.parse(decodeText(bytes, file));
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(`${file}: invalid JSON (${jsonErrorText(err)})`);
  }
  if (Array.isArray(doc)) {
    return { records: doc.map((value, row) => ({ location: { file, row }, value })), issues: [] };
  }
  if (!isPlainObject(doc)) {
    throw new FormatError(
      `${file}: expected a JSON array of rows or a pandas column-oriented object, got ${describeType(doc)}`,
    );
  }
  // Rows are the union of the row keys of every column, in order of first appearance (pandas keeps the
  // index order in each column). A key absent from a column becomes a missing field in that row.
  const rows = new Map<string, Record<string, unknown>>();
  for (const [column, cells] of Object.entries(doc)) {
    if (!isPlainObject(cells)) {
      throw new FormatError(
        `${file}: column '${column}' must be an object of row key to value (pandas orient="columns"), ` +
          `got ${describeType(cells)}`,
      );
    }
    for (const [key, value] of Object.entries(cells)) {
      let row = rows.get(key);
      if (row === undefined) {
        row = {};
        rows.set(key, row);
      }
      row[column] = value;
    }
  }
  return {
    records: [...rows].map(([key, value]) => ({ location: { file, key }, value })),
    issues: [],
  };
}

/** hyparquet reads snappy itself; node:zlib adds gzip, brotli and (Node >= 22.15) zstd. */
const zstd = (zlib as { zstdDecompressSync?: (b: Uint8Array) => Uint8Array }).zstdDecompressSync;
const DECOMPRESSORS: Compressors = {
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
  ...(zstd === undefined ? {} : { ZSTD: (input: Uint8Array) => zstd(input) }),
};

export async function parseParquet(bytes: Uint8Array, file: string): Promise<RawRecords> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: buffer, compressors: DECOMPRESSORS });
  } catch (err) {
    throw new FormatError(`${file}: not a readable Parquet file (${jsonErrorText(err)})`);
  }
  return { records: rows.map((value, row) => ({ location: { file, row }, value })), issues: [] };
}

export async function parseRecords(bytes: Uint8Array, file: string, format: DataFormat): Promise<RawRecords> {
  switch (format) {
    case "jsonl":
      return parseJsonl(bytes, file);
    case "json":
      return parseJson(bytes, file);
    case "parquet":
      return parseParquet(bytes, file);
  }
}
