/**
 * The W&B spool of a run: its history.jsonl is the queue (line N is file_stream offset N, written before
 * anything is sent) and wandb.json records how far the server has acknowledged it, plus what was already
 * uploaded of config, summary, tables and artifacts. The state is saved after every acknowledgement, so
 * a restart or `lethe-track sync` resumes where the last run stopped; at worst it re-sends lines the
 * server already has, at the same offsets, which the server treats as the same lines.
 */
import {
  byteOffsetOfLine,
  type LineChunk,
  type LineLimits,
  readCompleteLines,
} from "../local/history-reader.js";
import { readJsonSync, writeJsonAtomic } from "../local/json-files.js";
import { type RunPaths, runPaths } from "../local/layout.js";

export interface TableUpload {
  path: string;
  sha256: string;
  size: number;
  ncols: number;
  nrows: number;
  mtime_ms: number;
}

export interface ArtifactUpload {
  client_id: string;
  sequence_client_id: string;
  id: string | null;
  committed: boolean;
}

export interface WandbSpoolState {
  format: 1;
  base_url: string;
  entity: string | null;
  project: string;
  run: string;
  mode: "online" | "offline";
  /** History lines (and their bytes) the server has acknowledged. */
  history: { lines: number; bytes: number };
  config_sha256: string | null;
  summary_sha256: string | null;
  tables: Record<string, TableUpload>;
  /** Keyed by "<index in artifacts.json>:<name>". */
  artifacts: Record<string, ArtifactUpload>;
  complete: { exit_code: number } | null;
}

export interface SpoolTarget {
  baseUrl: string;
  entity: string | null;
  project: string;
  run: string;
  mode: "online" | "offline";
}

function freshState(target: SpoolTarget): WandbSpoolState {
  return {
    format: 1,
    base_url: target.baseUrl,
    entity: target.entity,
    project: target.project,
    run: target.run,
    mode: target.mode,
    history: { lines: 0, bytes: 0 },
    config_sha256: null,
    summary_sha256: null,
    tables: {},
    artifacts: {},
    complete: null,
  };
}

export class Spool {
  readonly paths: RunPaths;
  state: WandbSpoolState;

  private constructor(dir: string, state: WandbSpoolState) {
    this.paths = runPaths(dir);
    this.state = state;
  }

  /**
   * The spool state of `dir`. A state written for another server, entity or project describes uploads
   * that the new target does not have, so it starts over.
   */
  static open(dir: string, target: SpoolTarget): Spool {
    const paths = runPaths(dir);
    const saved = readJsonSync<WandbSpoolState | null>(paths.wandbState, null);
    const sameTarget =
      saved !== null &&
      saved.base_url === target.baseUrl &&
      saved.project === target.project &&
      saved.run === target.run &&
      (target.entity === null || saved.entity === null || saved.entity === target.entity);
    const state = sameTarget
      ? { ...saved, mode: target.mode, entity: saved.entity ?? target.entity }
      : freshState(target);
    const spool = new Spool(dir, state);
    spool.save();
    return spool;
  }

  save(): void {
    writeJsonAtomic(this.paths.wandbState, this.state);
  }

  /** Complete history lines not yet acknowledged, from the acknowledged offset on. */
  pendingHistory(limits: LineLimits): LineChunk & { offset: number } {
    const chunk = readCompleteLines(this.paths.history, this.state.history.bytes, limits);
    return { ...chunk, offset: this.state.history.lines };
  }

  /** A resumed run is running again: it will end (and send `complete`) once more. */
  reopen(): void {
    this.state.complete = null;
    this.save();
  }

  /** Lines on disk beyond the acknowledged offset (complete lines only). */
  unsentLines(): number {
    let count = 0;
    let from = this.state.history.bytes;
    for (;;) {
      const chunk = readCompleteLines(this.paths.history, from, { maxLines: 10_000 });
      count += chunk.lines.length;
      from = chunk.endByte;
      if (chunk.atEnd) return count;
    }
  }

  acknowledgeHistory(lines: number, endByte: number): void {
    this.state.history = { lines: this.state.history.lines + lines, bytes: endByte };
    this.save();
  }

  /** Continue from line `line` (the server holds fewer lines than this spool believed). */
  rewindHistory(line: number): void {
    this.state.history = { lines: line, bytes: byteOffsetOfLine(this.paths.history, line) };
    this.save();
  }
}
