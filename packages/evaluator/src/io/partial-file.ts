/**
 * The resumable record of an evaluation in progress: JSON lines, the first naming what is evaluated (so a
 * resume cannot mix two evaluations), then one line per batch of results as they are produced:
 *
 *   {"lethe_eval_partial": 1, "key": {"checkpoint": "...", "forget": "...", "max_new_tokens": 256, ...}}
 *   {"stage": "forget", "results": [[3, "generation text"], [7, "..."]]}
 *   {"stage": "mia_member", "results": [[0, 2.71]]}
 *
 * Each batch is one write(2), so a kill loses at most the batch in flight; a torn last line is ignored.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from "node:fs";
import { FormatError } from "@lethe/core";
import type { BatchResume } from "../model/batches.js";

export type PartialKey = Record<string, string | number | boolean | null>;

/** The stages whose results are recorded, and the type of one result. */
export interface PartialStages {
  forget: string;
  retain: string;
  mia_member: number;
  mia_nonmember: number;
  mmlu: number[];
}
export type PartialStage = keyof PartialStages;

const VALID: { [S in PartialStage]: (v: unknown) => v is PartialStages[S] } = {
  forget: (v): v is string => typeof v === "string",
  retain: (v): v is string => typeof v === "string",
  mia_member: (v): v is number => typeof v === "number",
  mia_nonmember: (v): v is number => typeof v === "number",
  mmlu: (v): v is number[] => Array.isArray(v) && v.every((x) => typeof x === "number"),
};

export class PartialFile {
  private readonly known = new Map<PartialStage, Map<number, unknown>>();
  private fd: number | null = null;

  /** Results read back from an earlier run (0 for a fresh start). */
  resumed = 0;

  private constructor(readonly path: string) {}

  /**
   * Open the partial file for an evaluation identified by `key`. An existing file is continued with
   * `resume`, and refused without it (it holds work that would be lost); `resume` with no file starts fresh.
   */
  static open(path: string, key: PartialKey, resume: boolean): PartialFile {
    if (!existsSync(path)) {
      const file = new PartialFile(path);
      file.fd = openSync(path, "wx");
      file.append({ lethe_eval_partial: 1, key });
      return file;
    }
    const text = readFileSync(path, "utf8");
    const end = text.lastIndexOf("\n") + 1;
    const lines = text.slice(0, end).split("\n").filter(Boolean);
    if (lines.length <= 1) {
      // Interrupted before the first result: nothing to keep.
      rmSync(path, { force: true });
      return PartialFile.open(path, key, resume);
    }
    if (!resume) {
      throw new FormatError(
        `${path}: holds ${lines.length - 1} batches of results of an interrupted evaluation: ` +
          "run the same command with --resume to continue it, or delete the file to start over",
      );
    }
    const header = parseLine(lines[0], path, 1) as { lethe_eval_partial?: unknown; key?: PartialKey };
    if (header.lethe_eval_partial !== 1 || typeof header.key !== "object" || header.key === null) {
      throw new FormatError(`${path}:1: not a lethe-eval partial file`);
    }
    for (const name of new Set([...Object.keys(key), ...Object.keys(header.key)])) {
      if (header.key[name] !== key[name]) {
        throw new FormatError(
          `${path}: cannot resume: it was made with ${name} ${JSON.stringify(header.key[name] ?? null)}, ` +
            `this run has ${JSON.stringify(key[name] ?? null)}; delete it to start over`,
        );
      }
    }
    const file = new PartialFile(path);
    lines.slice(1).forEach((line, i) => {
      const entry = parseLine(line, path, i + 2) as { stage?: unknown; results?: unknown };
      const stage = entry.stage as PartialStage;
      if (!(stage in VALID) || !Array.isArray(entry.results)) {
        throw new FormatError(`${path}:${i + 2}: expected {"stage", "results"}`);
      }
      const map = file.stageMap(stage);
      for (const pair of entry.results as unknown[]) {
        const [index, value] = Array.isArray(pair) ? pair : [];
        if (!Number.isInteger(index) || !VALID[stage](value)) continue;
        if (!map.has(index)) file.resumed++;
        map.set(index, value);
      }
    });
    truncateSync(path, Buffer.byteLength(text.slice(0, end)));
    file.fd = openSync(path, "a");
    return file;
  }

  /** How many results are on record. */
  get count(): number {
    let n = 0;
    for (const map of this.known.values()) n += map.size;
    return n;
  }

  /** What a stage already has, and a sink that records each new batch. */
  stage<S extends PartialStage>(stage: S): BatchResume<PartialStages[S]> {
    const map = this.stageMap(stage) as Map<number, PartialStages[S]>;
    return {
      known: map,
      onResults: (indices, results) => {
        indices.forEach((index, k) => {
          map.set(index, results[k]!);
        });
        this.append({ stage, results: indices.map((index, k) => [index, results[k]]) });
      },
    };
  }

  /** The evaluation finished and its report is written: the partial record is no longer needed. */
  remove(): void {
    this.close();
    rmSync(this.path, { force: true });
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private stageMap(stage: PartialStage): Map<number, unknown> {
    let map = this.known.get(stage);
    if (map === undefined) {
      map = new Map();
      this.known.set(stage, map);
    }
    return map;
  }

  private append(value: unknown): void {
    if (this.fd === null) throw new Error(`${this.path}: closed`);
    writeSync(this.fd, `${JSON.stringify(value)}\n`);
  }
}

function parseLine(line: string | undefined, path: string, number: number): unknown {
  try {
    return JSON.parse(line ?? "");
  } catch {
    throw new FormatError(`${path}:${number}: not a JSON line`);
  }
}
