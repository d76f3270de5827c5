/** Forget/retain rows through core's loaders, in every format the spec names (§0.1, §1.2), and the directory layout. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { type DataFormat, encodeRows, TASK_FIELDS, type TaskRow } from "@lethe/core";
import { afterAll, describe, expect, it } from "vitest";
import { loadTrainingRows, resolveDataFiles, retainNeed } from "../src/data/rows.js";

const dir = mkdtempSync(path.join(tmpdir(), "lethe-trainer-data-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FORGET: TaskRow[] = [
  { id: '"2ebb-c717"sc1', input: "Once upon", output: "a time", task: "Task1", split: "forget" },
  { id: "90a0-9f6fqa0", input: "Birthday?", output: "1976-03-29", task: "Task2", split: "forget" },
];
const RETAIN: TaskRow[] = [
  { id: "67148749sc1", input: "Born in", output: "Paris", task: "Task3", split: "retain" },
];

/** Write rows in `format` under `name` (in a fresh sub-directory `sub`); returns the path. */
function write(
  sub: string,
  name: string,
  rows: readonly TaskRow[],
  format: DataFormat,
  fields = TASK_FIELDS,
): string {
  const file = path.join(dir, sub, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, encodeRows(rows, fields, format));
  return file;
}

describe("loading", () => {
  it.each([
    ["jsonl", "forget.jsonl"],
    ["parquet", "forget.parquet"],
    ["json", "forget.json"],
  ] as const)("reads %s", async (format, name) => {
    const forget = write(`fmt-${format}`, name, FORGET, format);
    const retain = write(`fmt-${format}`, `retain.${format}`, RETAIN, format);
    const loaded = await loadTrainingRows({ forget, retain });
    expect(loaded.forget).toEqual(FORGET);
    expect(loaded.retain).toEqual(RETAIN);
    expect(loaded.files).toEqual({ forget, retain });
  });

  it("reads ZJU's pandas orient=columns JSON", async () => {
    const file = path.join(dir, "pandas.json");
    const columns: Record<string, Record<string, string>> = {};
    for (const field of ["id", "input", "output", "task"] as const) {
      columns[field] = Object.fromEntries(FORGET.map((row, i) => [String(i), row[field]]));
    }
    writeFileSync(file, JSON.stringify(columns));
    const loaded = await loadTrainingRows({ forget: file, retain: null });
    expect(loaded.forget).toEqual(FORGET); // split filled in: the organisers' files may lack it
    expect(loaded.retain).toEqual([]);
  });

  it("a directory holding forget.* and retain.* (the submission layout)", async () => {
    const forget = write("layout", "forget.parquet", FORGET, "parquet");
    const retain = write("layout", "retain.jsonl", RETAIN, "jsonl");
    const layout = path.join(dir, "layout");
    expect(await resolveDataFiles({ forget: layout, retain: null })).toEqual({ forget, retain });
    const loaded = await loadTrainingRows({ forget: layout, retain: null });
    expect(loaded.forget).toEqual(FORGET);
    expect(loaded.retain).toEqual(RETAIN);
  });

  it("a directory with two forget files is ambiguous", async () => {
    write("two", "forget.parquet", FORGET, "parquet");
    write("two", "forget.jsonl", FORGET, "jsonl");
    await expect(resolveDataFiles({ forget: path.join(dir, "two"), retain: null })).rejects.toThrow(
      "holds forget.parquet and forget.jsonl; name the file to use in data.forget",
    );
  });

  it("a directory without a forget file", async () => {
    write("none", "retain.jsonl", RETAIN, "jsonl");
    await expect(loadTrainingRows({ forget: path.join(dir, "none"), retain: null })).rejects.toThrow(
      "data.forget:",
    );
  });

  it("a missing retain set is an error when the loss needs one, naming what needs it", async () => {
    const forget = write("alone", "forget.jsonl", FORGET, "jsonl");
    await expect(
      loadTrainingRows({ forget, retain: null }, { retainRequiredBy: "loss.retain_kl = 0.4" }),
    ).rejects.toThrow("data.retain: required by loss.retain_kl = 0.4, but none is set");
  });

  it("a retain row in the forget file is refused", async () => {
    const forget = write("mixed", "forget.jsonl", [...FORGET, RETAIN[0]!], "jsonl");
    await expect(loadTrainingRows({ forget, retain: null })).rejects.toThrow(
      "data.forget: " + forget + ': row 67148749sc1 has split "retain", not "forget"',
    );
  });

  it("bad rows fail with core's file-and-line message", async () => {
    const file = path.join(dir, "bad.jsonl");
    writeFileSync(file, `${JSON.stringify(FORGET[0])}\n{"id": "x", "input": 1}\n`);
    await expect(loadTrainingRows({ forget: file, retain: null })).rejects.toThrow(/bad\.jsonl.*2/s);
  });
});

describe("retainNeed", () => {
  const loss = { forget: "npo", retain_kl: 0, retain_nll: 0, rmu: { alpha: 100 } };
  it("names the term that needs retain rows", () => {
    expect(retainNeed(loss)).toBeUndefined();
    expect(retainNeed({ ...loss, retain_kl: 0.4 })).toBe("loss.retain_kl = 0.4");
    expect(retainNeed({ ...loss, retain_nll: 0.2 })).toBe("loss.retain_nll = 0.2");
    expect(retainNeed({ ...loss, forget: "adaptive_rmu" })).toBe(
      "loss.forget = adaptive_rmu (retain weight loss.rmu.alpha = 100)",
    );
    expect(retainNeed({ ...loss, forget: "rmu", rmu: { alpha: 0 } })).toBeUndefined();
  });
});
