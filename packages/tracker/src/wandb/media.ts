/**
 * Tables on W&B are media files: the table JSON is uploaded into the run's files under `media/table/`
 * and the summary points at it with a `table-file` entry, which is what the W&B UI renders.
 */
import { createHash } from "node:crypto";
import { FormatError } from "@lethe/core";
import type { TableData } from "../types.js";

export interface TableFileRef {
  _type: "table-file";
  path: string;
  sha256: string;
  size: number;
  ncols: number;
  nrows: number;
}

export function tableFileRef(name: string, bytes: Uint8Array, sourcePath: string): TableFileRef {
  let table: TableData;
  try {
    table = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new FormatError(`${sourcePath}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(table.columns) || !Array.isArray(table.data)) {
    throw new FormatError(`${sourcePath}: a table needs "columns" and "data" arrays`);
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return {
    _type: "table-file",
    path: `media/table/${name}_${sha256.slice(0, 20)}.table.json`,
    sha256,
    size: bytes.length,
    ncols: table.columns.length,
    nrows: table.data.length,
  };
}
