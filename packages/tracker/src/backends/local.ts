/**
 * The local backend: one directory per run (see local/layout.ts). History rows are appended with one
 * synchronous write each, straight to the kernel (no user-space buffer), so a crash of the process loses
 * nothing that log() returned from; only a kill in the middle of that one write can leave a partial last
 * line, which every reader skips. The small JSON files are replaced atomically. finish() fsyncs.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { ConflictError, NotFoundError } from "@lethe/core";
import { countCompleteLines, parseHistoryLine, readCompleteLines } from "../local/history-reader.js";
import { expectObject, readJsonSync, writeJsonAtomic } from "../local/json-files.js";
import { type RunPaths, runPaths, tablePath } from "../local/layout.js";
import {
  type ArtifactRecord,
  type HistoryRow,
  type JsonObject,
  type RunMeta,
  stateForExitCode,
  type TableData,
} from "../types.js";
import type { Backend } from "./types.js";

/** What a reopened run directory already holds. */
export interface ResumedRun {
  meta: RunMeta;
  config: JsonObject;
  summary: JsonObject;
  artifacts: ArtifactRecord[];
  historyLines: number;
  lastRow: HistoryRow | null;
}

export class LocalBackend implements Backend {
  readonly kind = "local";
  private fd: number | null;
  private closed = false;

  private constructor(
    readonly paths: RunPaths,
    private meta: RunMeta,
    private artifacts: ArtifactRecord[],
  ) {
    this.fd = openSync(paths.history, "a");
  }

  /** A new run directory; a ConflictError if one with this id already has a run in it. */
  static create(dir: string, meta: RunMeta, config: JsonObject): LocalBackend {
    const paths = runPaths(dir);
    if (existsSync(paths.meta)) {
      throw new ConflictError(`${dir} already holds run ${meta.id}; pass resume to continue it`);
    }
    mkdirSync(dir, { recursive: true });
    writeJsonAtomic(paths.config, config);
    writeJsonAtomic(paths.summary, {});
    writeJsonAtomic(paths.artifacts, []);
    const backend = new LocalBackend(paths, meta, []);
    writeJsonAtomic(paths.meta, meta);
    return backend;
  }

  /**
   * Continue a run that exists on disk: cut a partial last history line a crash left, read back where it
   * stopped, and mark it running again (same id, directory and start time).
   */
  static reopen(dir: string, update: Partial<RunMeta>): { backend: LocalBackend; resumed: ResumedRun } {
    const paths = runPaths(dir);
    if (!existsSync(paths.meta)) throw new NotFoundError(`${dir}: no run to resume (no ${paths.meta})`);
    const previous = readJsonSync<RunMeta>(paths.meta, null as never);
    const config = expectObject(paths.config, readJsonSync<unknown>(paths.config, {}));
    const summary = expectObject(paths.summary, readJsonSync<unknown>(paths.summary, {}));
    const artifacts = readJsonSync<ArtifactRecord[]>(paths.artifacts, []);

    const { lines, bytes, partialTail } = countCompleteLines(paths.history);
    if (partialTail) {
      const fd = openSync(paths.history, "r+");
      try {
        ftruncateSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
    }
    let lastRow: HistoryRow | null = null;
    if (lines > 0) {
      const tail = readCompleteLines(paths.history, Math.max(0, lastLineStart(paths.history, bytes)));
      const line = tail.lines[tail.lines.length - 1];
      if (line !== undefined) lastRow = parseHistoryLine(paths.history, lines, line);
    }
    const meta: RunMeta = {
      ...previous,
      ...update,
      started_at: previous.started_at,
      state: "running",
      ended_at: null,
      exit_code: null,
      host: hostname(),
      pid: process.pid,
    };
    const backend = new LocalBackend(paths, meta, artifacts);
    writeJsonAtomic(paths.meta, meta);
    return { backend, resumed: { meta, config, summary, artifacts, historyLines: lines, lastRow } };
  }

  log(row: HistoryRow): void {
    this.writeAll(Buffer.from(`${JSON.stringify(row)}\n`, "utf8"));
  }

  summary(summary: JsonObject): void {
    writeJsonAtomic(this.paths.summary, summary);
  }

  config(config: JsonObject): void {
    writeJsonAtomic(this.paths.config, config);
  }

  table(name: string, table: TableData): void {
    mkdirSync(this.paths.tables, { recursive: true });
    writeJsonAtomic(tablePath(this.paths.dir, name), table);
  }

  artifact(artifact: ArtifactRecord): void {
    this.artifacts.push(artifact);
    writeJsonAtomic(this.paths.artifacts, this.artifacts);
  }

  async finish(exitCode: number): Promise<void> {
    this.finishSync(exitCode);
  }

  finishSync(exitCode: number): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== null) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
    }
    this.meta = {
      ...this.meta,
      state: stateForExitCode(exitCode),
      exit_code: exitCode,
      ended_at: new Date().toISOString(),
    };
    writeJsonAtomic(this.paths.meta, this.meta);
  }

  private writeAll(bytes: Buffer): void {
    if (this.fd === null)
      throw new ConflictError(`${this.paths.dir}: run is finished, nothing more can be logged`);
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(this.fd, bytes, offset, bytes.length - offset);
  }
}

/** Start of the last complete line, found by scanning back from `end` (the end of the complete lines). */
function lastLineStart(path: string, end: number): number {
  let start = 0;
  let position = 0;
  for (;;) {
    const chunk = readCompleteLines(path, position, { maxLines: 4096 });
    if (chunk.lines.length === 0) return start;
    const last = chunk.lines[chunk.lines.length - 1]!;
    start = chunk.endByte - Buffer.byteLength(last, "utf8") - 1;
    position = chunk.endByte;
    if (position >= end || chunk.atEnd) return start;
  }
}
