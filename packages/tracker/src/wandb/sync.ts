/**
 * `lethe-track sync RUN_DIR`: upload a run recorded offline, or whatever a live upload left behind (a
 * crash, a network outage past finish's timeout). It resumes from the offset the spool records, checked
 * against the server's own line count, and sends `complete` only for a run that ended; a crashed run
 * (killed before finish) is uploaded without it, which W&B shows as crashed.
 */
import { LetheError } from "@lethe/core";
import { readRunMeta, writerAlive } from "../local/reader.js";
import { type ClientOptions, WandbClient } from "./client.js";
import { type WandbSettings, wandbSettings } from "./env.js";
import { RunUploader } from "./uploader.js";

export interface SyncOptions {
  /** Default: from the WANDB_* environment. */
  settings?: WandbSettings;
  /** Override the entity / project the run is uploaded to. */
  entity?: string;
  project?: string;
  client?: Partial<ClientOptions>;
  /** Sync even though the process that writes the run is still alive. */
  force?: boolean;
  batchLines?: number;
  signal?: AbortSignal;
}

export interface SyncResult {
  runId: string;
  entity: string;
  project: string;
  /** History lines sent by this sync. */
  sentLines: number;
  /** History lines the server now holds for the run. */
  totalLines: number;
  /** Whether the run is marked complete on the server. */
  completed: boolean;
  url: string;
}

export async function syncRun(dir: string, options: SyncOptions = {}): Promise<SyncResult> {
  const meta = await readRunMeta(dir);
  if (meta.state === "running" && writerAlive(meta) === true && !options.force) {
    throw new LetheError(
      `run ${meta.id} in ${dir} is still being written by pid ${meta.pid}; sync it when it ends (or force)`,
    );
  }
  const settings = options.settings ?? wandbSettings();
  if (settings.apiKey === null) {
    throw new LetheError(
      `W&B: no API key for ${settings.baseUrl}: set WANDB_API_KEY or add the host to ~/.netrc`,
    );
  }
  const client = new WandbClient(settings.baseUrl, settings.apiKey, options.client);
  const uploader = new RunUploader({
    client,
    dir,
    entity: options.entity ?? settings.entity,
    project: options.project ?? null,
    ...(options.batchLines !== undefined && { batchLines: options.batchLines }),
  });
  await uploader.drain({
    ...(meta.exit_code !== null && { complete: meta.exit_code }),
    ...(options.signal !== undefined && { signal: options.signal }),
  });
  const state = uploader.spool.state;
  return {
    runId: meta.id,
    entity: state.entity!,
    project: state.project,
    sentLines: uploader.sentLines,
    totalLines: state.history.lines,
    completed: state.complete !== null,
    url: uploader.url,
  };
}
