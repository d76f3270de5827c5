/**
 * Reading history.jsonl. The writer appends each row as one complete line with a single write, so the only
 * damage a crash can do is a partial last line without its "\n". Every reader here ignores that tail:
 * a line counts only once its newline is on disk.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { FormatError } from "@lethe/core";
import type { HistoryRow } from "../types.js";

const NEWLINE = 0x0a;
const CHUNK_BYTES = 1 << 16;

export interface LineChunk {
  /** Complete lines, without their "\n". */
  lines: string[];
  /** Byte offset just after the last returned line. */
  endByte: number;
  /** True when bytes remain after endByte that do not (yet) end in "\n". */
  partialTail: boolean;
  /** True when the end of the file was reached (no limit cut the read short). */
  atEnd: boolean;
}

export interface LineLimits {
  maxLines?: number;
  /** A soft limit: at least one line is returned even if it is longer. */
  maxBytes?: number;
}

/**
 * Complete lines from `fromByte` on, synchronously (the uploader calls this between appends made on the
 * same thread, so it never sees a line being written). A missing file reads as empty.
 */
export function readCompleteLines(path: string, fromByte = 0, limits: LineLimits = {}): LineChunk {
  const maxLines = limits.maxLines ?? Number.POSITIVE_INFINITY;
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return { lines: [], endByte: fromByte, partialTail: false, atEnd: true };
    }
    throw err;
  }
  const lines: string[] = [];
  let endByte = fromByte;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let position = fromByte;
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, CHUNK_BYTES, position);
      if (n === 0) return { lines, endByte, partialTail: pendingBytes > 0, atEnd: true };
      let start = 0;
      for (let i = 0; i < n; i++) {
        if (buffer[i] !== NEWLINE) continue;
        pending.push(buffer.subarray(start, i));
        const line = Buffer.concat(pending).toString("utf8");
        const lineBytes = pendingBytes + (i - start) + 1;
        if (lines.length > 0 && endByte - fromByte + lineBytes > maxBytes) {
          return { lines, endByte, partialTail: false, atEnd: false };
        }
        lines.push(line);
        endByte += lineBytes;
        pending = [];
        pendingBytes = 0;
        start = i + 1;
        if (lines.length >= maxLines) return { lines, endByte, partialTail: false, atEnd: false };
      }
      if (start < n) {
        pending.push(Buffer.from(buffer.subarray(start, n)));
        pendingBytes += n - start;
      }
      position += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Number of complete lines and the byte length they span (the start of a partial tail, if any). */
export function countCompleteLines(path: string): { lines: number; bytes: number; partialTail: boolean } {
  let lines = 0;
  let bytes = 0;
  for (;;) {
    const chunk = readCompleteLines(path, bytes, { maxLines: 10_000 });
    lines += chunk.lines.length;
    bytes = chunk.endByte;
    if (chunk.atEnd) return { lines, bytes, partialTail: chunk.partialTail };
  }
}

/** Byte offset where line `lineIndex` starts (`lineIndex` may equal the line count: the end). */
export function byteOffsetOfLine(path: string, lineIndex: number): number {
  let seen = 0;
  let bytes = 0;
  while (seen < lineIndex) {
    const chunk = readCompleteLines(path, bytes, { maxLines: Math.min(10_000, lineIndex - seen) });
    seen += chunk.lines.length;
    bytes = chunk.endByte;
    if (chunk.atEnd && seen < lineIndex) {
      throw new FormatError(`${path}: has ${seen} complete lines, line ${lineIndex} does not exist`);
    }
  }
  return bytes;
}

export function parseHistoryLine(path: string, lineNumber: number, line: string): HistoryRow {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (err) {
    throw new FormatError(`${path}: line ${lineNumber} is not valid JSON (${(err as Error).message})`);
  }
  if (
    row === null ||
    typeof row !== "object" ||
    Array.isArray(row) ||
    typeof (row as HistoryRow)._step !== "number"
  ) {
    throw new FormatError(
      `${path}: line ${lineNumber} is not a history row (an object with a numeric _step)`,
    );
  }
  return row as HistoryRow;
}

/** Every complete row of a history file, in order; a missing file is an empty history. */
export async function readHistory(path: string): Promise<HistoryRow[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const pieces = text.split("\n");
  pieces.pop(); // "" after the final newline, or a partial line a crash left behind
  return pieces.map((line, i) => parseHistoryLine(path, i + 1, line));
}
