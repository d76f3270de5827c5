/**
 * The safetensors header: parse and validate exactly as the reference reader (huggingface/safetensors
 * `tensor.rs`) does, with errors that name the file and the tensor. Layout:
 * `[u64 LE N][N bytes UTF-8 JSON][data]`, offsets relative to the start of the data.
 */
import { FormatError } from "../errors.js";
import { byteLength, type DType, isDType } from "../tensor/dtype.js";
import { numel } from "../tensor/tensor.js";

export const MAX_HEADER_SIZE = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte offsets relative to the start of the data section; end exclusive. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes (padding included). */
  headerSize: number;
  /** File offset of the data section: 8 + N. */
  dataStart: number;
  /** Tensors in data order. */
  tensors: TensorEntry[];
  byName: Map<string, TensorEntry>;
  metadata: Record<string, string> | null;
  /** Length of the data section. */
  dataSize: number;
}

/** N from the first 8 bytes, checked against the limit and the file size. */
export function readHeaderSize(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new FormatError(
      `${source}: not a safetensors file: ${fileSize} bytes is shorter than the 8-byte header size`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new FormatError(`${source}: header size ${n} exceeds the limit of ${MAX_HEADER_SIZE} bytes`);
  }
  const size = Number(n);
  if (8 + size > fileSize) {
    throw new FormatError(
      `${source}: header size ${size} runs past the end of the file (${fileSize} bytes): truncated?`,
    );
  }
  return size;
}

/** Parse and validate the JSON header bytes (without the 8-byte prefix) of a file of `fileSize` bytes. */
export function parseHeader(json: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw new FormatError(`${source}: header is not valid UTF-8`);
  }
  if (!text.startsWith("{")) throw new FormatError(`${source}: header does not start with '{'`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`${source}: header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FormatError(`${source}: header is not a JSON object`);
  }
  const duplicate = firstDuplicateTopLevelKey(text);
  if (duplicate !== null)
    throw new FormatError(`${source}: tensor "${duplicate}" appears twice in the header`);

  let metadata: Record<string, string> | null = null;
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(value, source);
      continue;
    }
    tensors.push(parseEntry(name, value, source));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);

  let expected = 0;
  for (const t of tensors) {
    const where = `${source}: tensor "${t.name}"`;
    if (t.begin !== expected) {
      throw new FormatError(
        t.begin < expected
          ? `${where}: data_offsets [${t.begin}, ${t.end}] overlap the previous tensor (which ends at ${expected})`
          : `${where}: data_offsets [${t.begin}, ${t.end}] leave a gap after byte ${expected}`,
      );
    }
    if (t.end < t.begin)
      throw new FormatError(`${where}: data_offsets [${t.begin}, ${t.end}] end before they begin`);
    const count = numel(t.shape);
    if (!Number.isSafeInteger(count)) throw new FormatError(`${where}: shape [${t.shape}] overflows`);
    const bytes = byteLength(t.dtype, count);
    if (bytes === null) {
      throw new FormatError(`${where}: ${count} elements of ${t.dtype} are not a whole number of bytes`);
    }
    if (t.end - t.begin !== bytes) {
      throw new FormatError(
        `${where}: holds ${t.end - t.begin} bytes but ${t.dtype}[${t.shape}] needs ${bytes}`,
      );
    }
    expected = t.end;
  }
  const dataStart = 8 + json.byteLength;
  if (dataStart + expected !== fileSize) {
    throw new FormatError(
      `${source}: header describes ${dataStart + expected} bytes but the file has ${fileSize}` +
        (dataStart + expected > fileSize ? " (truncated)" : " (trailing bytes)"),
    );
  }
  return {
    headerSize: json.byteLength,
    dataStart,
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
    metadata,
    dataSize: expected,
  };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FormatError(`${source}: __metadata__ must be an object of strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new FormatError(`${source}: __metadata__ key "${k}" is not a string`);
  }
  return value as Record<string, string>;
}

function parseEntry(name: string, value: unknown, source: string): TensorEntry {
  const where = `${source}: tensor "${name}"`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FormatError(`${where}: entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets, ...extra } = value as Record<string, unknown>;
  const unknownKey = Object.keys(extra)[0];
  if (unknownKey !== undefined) throw new FormatError(`${where}: unknown field "${unknownKey}"`);
  if (typeof dtype !== "string") throw new FormatError(`${where}: missing or non-string dtype`);
  if (!isDType(dtype)) throw new FormatError(`${where}: unknown dtype "${dtype}"`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new FormatError(`${where}: shape must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw new FormatError(`${where}: data_offsets must be [begin, end] non-negative integers`);
  }
  return { name, dtype, shape: shape as number[], begin: offsets[0] as number, end: offsets[1] as number };
}

function isIndex(x: unknown): boolean {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** JSON.parse keeps the last of duplicate keys silently; the reference rejects them. */
function firstDuplicateTopLevelKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let i = 0;
  let expectKey = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
    } else if (c === "{" || c === "[") {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === "}" || c === "]") {
      depth--;
    } else if (c === "," && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return null;
}

/** Serialize a header for the given entries, padded with spaces to a multiple of 8 bytes. */
export function encodeHeader(
  entries: readonly TensorEntry[],
  metadata: Record<string, string> | null,
): Uint8Array {
  const object: Record<string, unknown> = {};
  if (metadata) object["__metadata__"] = metadata;
  for (const t of entries)
    object[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [t.begin, t.end] };
  const json = new TextEncoder().encode(JSON.stringify(object));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}
