/**
 * Small JSON files of a run (run.json, config.json, summary.json, ...) are replaced atomically: written to
 * a temporary sibling and renamed over the old one, so a reader or a crash sees the old or the new
 * content, never half of it. Writes are synchronous so a value is on disk when the call returns.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { FormatError } from "@lethe/core";

let tmpCounter = 0;

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

/** The parsed file, or `fallback` when it does not exist. */
export function readJsonSync<T>(path: string, fallback: T): T {
  if (!existsSync(path)) return fallback;
  return parseJson(path, readFileSync(path, "utf8")) as T;
}

export async function readJson<T>(path: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return fallback;
    throw err;
  }
  return parseJson(path, text) as T;
}

/** Like readJson, but a file that is not a JSON object is a FormatError naming it. */
export function expectObject(path: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new FormatError(`${path}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}
