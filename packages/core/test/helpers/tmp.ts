import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll } from "vitest";

/** A temporary directory removed after the file's tests. */
export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `lethe-${label}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
