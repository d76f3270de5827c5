/**
 * Uploads one run directory to W&B: the live backend calls drain() as rows arrive, `lethe-track sync`
 * calls it once for a run recorded offline or cut short. Everything is read from disk (the spool), in
 * this order: create/update the run (UpsertBucket), tables, artifacts, history with the summary, and
 * finally `complete` once the run has ended.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { NotFoundError } from "@lethe/core";
import { readJsonSync } from "../local/json-files.js";
import { runPaths, TABLE_SUFFIX } from "../local/layout.js";
import type { ArtifactRecord, JsonObject, RunMeta } from "../types.js";
import { manifestDigest, referenceManifest } from "./artifact-manifest.js";
import { GraphQLError, type WandbClient } from "./client.js";
import { tableFileRef } from "./media.js";
import {
  COMMIT_ARTIFACT,
  CREATE_ARTIFACT,
  CREATE_ARTIFACT_MANIFEST,
  parseUploadHeaders,
  runHistoryLineCount,
  runUploadUrl,
  upsertRun,
  viewerEntity,
} from "./operations.js";
import type { RetryPolicy } from "./retry.js";
import { Spool } from "./spool.js";

export interface UploaderOptions {
  client: WandbClient;
  dir: string;
  /** Entity to use when the spool has none yet; null asks the server (Viewer) for the default one. */
  entity: string | null;
  /** Project to use; null takes the run's own (run.json). */
  project: string | null;
  mode?: "online" | "offline";
  /** Lines per file_stream request. */
  batchLines?: number;
  /** Soft byte limit per file_stream request. */
  batchBytes?: number;
}

export interface DrainOptions {
  /** Send `complete` with this exit code after everything else (the run has ended). */
  complete?: number;
  signal?: AbortSignal;
}

const sha256 = (text: string | Uint8Array): string => createHash("sha256").update(text).digest("hex");

/** W&B stores config values nested as {"key": {"value": v}}. */
export function wireConfig(config: JsonObject): string {
  const nested: Record<string, { value: unknown }> = {};
  for (const [key, value] of Object.entries(config)) nested[key] = { value };
  return JSON.stringify(nested);
}

export class RunUploader {
  readonly spool: Spool;
  private readonly meta: RunMeta;
  private connected = false;
  private readonly batchLines: number;
  private readonly batchBytes: number;
  /** History lines the server acknowledged through this uploader. */
  sentLines = 0;

  constructor(private readonly options: UploaderOptions) {
    const meta = readJsonSync<RunMeta | null>(runPaths(options.dir).meta, null);
    if (meta === null) throw new NotFoundError(`${options.dir} is not a run directory (no run.json)`);
    this.meta = meta;
    this.spool = Spool.open(options.dir, {
      baseUrl: options.client.baseUrl,
      entity: options.entity,
      project: options.project ?? meta.project,
      run: meta.id,
      mode: options.mode ?? "online",
    });
    this.batchLines = options.batchLines ?? 1000;
    this.batchBytes = options.batchBytes ?? 4 << 20;
  }

  get retryPolicy(): RetryPolicy {
    return this.options.client.options.retry;
  }

  get runPath(): string {
    const s = this.spool.state;
    return `${s.entity ?? "?"}/${s.project}/${s.run}`;
  }

  get url(): string {
    const s = this.spool.state;
    const app = this.options.client.baseUrl.replace("://api.", "://");
    return `${app}/${s.entity ?? ""}/${s.project}/runs/${s.run}`;
  }

  /** Resolve the entity, learn how much history the server already has, and create or update the run. */
  async connect(signal?: AbortSignal): Promise<void> {
    if (this.connected) return;
    const { client } = this.options;
    const state = this.spool.state;
    if (state.entity === null) {
      state.entity = await viewerEntity(client, signal);
      this.spool.save();
    }
    const serverLines = await runHistoryLineCount(client, state.entity, state.project, state.run, signal);
    if (serverLines === null || serverLines < state.history.lines) this.spool.rewindHistory(serverLines ?? 0);
    await this.upsert(signal);
    this.connected = true;
  }

  /** Upload everything that is on disk and not yet acknowledged. */
  async drain(options: DrainOptions = {}): Promise<void> {
    const { signal } = options;
    await this.connect(signal);
    if (sha256(this.configJson()) !== this.spool.state.config_sha256) await this.upsert(signal);
    // A table or artifact that cannot be uploaded stays spooled for the next drain (or lethe-track sync);
    // it must not keep the history, the summary and the run's completion from the server.
    const failed: unknown[] = [];
    for (const push of [() => this.pushTables(signal), () => this.pushArtifacts(signal)]) {
      await push().catch((err: unknown) => {
        if (signal?.aborted) throw err;
        failed.push(err);
      });
    }
    await this.pushHistory(signal);
    if (options.complete !== undefined && this.spool.state.complete === null) {
      const s = this.spool.state;
      await this.options.client.fileStream(
        s.entity!,
        s.project,
        s.run,
        { complete: true, exitcode: options.complete },
        signal,
      );
      s.complete = { exit_code: options.complete };
      this.spool.save();
    }
    if (failed.length > 0) throw failed[0];
  }

  private configJson(): string {
    return wireConfig(readJsonSync<JsonObject>(this.spool.paths.config, {}));
  }

  private async upsert(signal?: AbortSignal): Promise<void> {
    const s = this.spool.state;
    const config = this.configJson();
    await upsertRun(
      this.options.client,
      {
        name: s.run,
        project: s.project,
        entity: s.entity!,
        displayName: this.meta.name,
        groupName: this.meta.group,
        jobType: this.meta.job_type,
        tags: this.meta.tags,
        notes: this.meta.notes,
        sweep: this.meta.sweep,
        host: this.meta.host || hostname(),
        config,
      },
      signal,
    );
    s.config_sha256 = sha256(config);
    this.spool.save();
  }

  private async pushTables(signal?: AbortSignal): Promise<void> {
    const dir = this.spool.paths.tables;
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith(TABLE_SUFFIX));
    } catch {
      return;
    }
    const s = this.spool.state;
    for (const file of files.sort()) {
      const name = file.slice(0, -TABLE_SUFFIX.length);
      const path = join(dir, file);
      const info = statSync(path);
      const known = s.tables[name];
      if (known && known.size === info.size && known.mtime_ms === info.mtimeMs) continue;
      const bytes = readFileSync(path);
      const ref = tableFileRef(name, bytes, path);
      if (known?.sha256 !== ref.sha256) {
        const target = await runUploadUrl(this.options.client, s.entity!, s.project, s.run, ref.path, signal);
        await this.options.client.upload(target.url, target.headers, bytes, signal);
      }
      s.tables[name] = {
        path: ref.path,
        sha256: ref.sha256,
        size: ref.size,
        ncols: ref.ncols,
        nrows: ref.nrows,
        mtime_ms: info.mtimeMs,
      };
      this.spool.save();
    }
  }

  private async pushArtifacts(signal?: AbortSignal): Promise<void> {
    const artifacts = readJsonSync<ArtifactRecord[]>(this.spool.paths.artifacts, []);
    const s = this.spool.state;
    const { client } = this.options;
    for (const [index, artifact] of artifacts.entries()) {
      const key = `${index}:${artifact.name}`;
      let upload = s.artifacts[key];
      if (upload?.committed) continue;
      if (!upload) {
        // Fixed client ids make a retried CreateArtifact (even from another process) the same artifact.
        upload = { client_id: randomId(), sequence_client_id: randomId(), id: null, committed: false };
        s.artifacts[key] = upload;
        this.spool.save();
      }
      const manifest = referenceManifest(artifact);
      const created = await client.graphql<{ createArtifact: { artifact: { id: string; state: string } } }>(
        CREATE_ARTIFACT,
        {
          artifactTypeName: artifact.type,
          artifactCollectionNames: [artifact.name],
          entityName: s.entity,
          projectName: s.project,
          runName: s.run,
          description: null,
          digest: manifestDigest(manifest),
          aliases: [{ artifactCollectionName: artifact.name, alias: "latest" }],
          metadata: JSON.stringify(artifact.metadata),
          clientID: upload.client_id,
          sequenceClientID: upload.sequence_client_id,
        },
        signal,
      );
      upload.id = created.createArtifact.artifact.id;
      if (created.createArtifact.artifact.state !== "COMMITTED") {
        const manifestBytes = Buffer.from(JSON.stringify(manifest), "utf8");
        const createdManifest = await client.graphql<{
          createArtifactManifest: {
            artifactManifest: { file: { uploadUrl: string | null; uploadHeaders: string[] | null } };
          };
        }>(
          CREATE_ARTIFACT_MANIFEST,
          {
            name: "wandb_manifest.json",
            digest: createHash("md5").update(manifestBytes).digest("base64"),
            artifactID: upload.id,
            baseArtifactID: null,
            entityName: s.entity,
            projectName: s.project,
            runName: s.run,
            includeUpload: true,
          },
          signal,
        );
        const file = createdManifest.createArtifactManifest.artifactManifest.file;
        if (!file.uploadUrl)
          throw new GraphQLError(`W&B CreateArtifactManifest: no upload URL for artifact ${artifact.name}`);
        await client.upload(file.uploadUrl, parseUploadHeaders(file.uploadHeaders), manifestBytes, signal);
        await client.graphql(COMMIT_ARTIFACT, { artifactID: upload.id }, signal);
      }
      upload.committed = true;
      this.spool.save();
    }
  }

  /** The summary as W&B shows it: summary.json plus a table-file entry per uploaded table. */
  private wireSummary(): string {
    const summary = readJsonSync<JsonObject>(this.spool.paths.summary, {});
    const wire: JsonObject = { ...summary };
    for (const [name, t] of Object.entries(this.spool.state.tables)) {
      wire[name] = {
        _type: "table-file",
        path: t.path,
        sha256: t.sha256,
        size: t.size,
        ncols: t.ncols,
        nrows: t.nrows,
      };
    }
    return JSON.stringify(wire);
  }

  private async pushHistory(signal?: AbortSignal): Promise<void> {
    const s = this.spool.state;
    for (;;) {
      const chunk = this.spool.pendingHistory({ maxLines: this.batchLines, maxBytes: this.batchBytes });
      const summary = this.wireSummary();
      const summaryChanged = sha256(summary) !== s.summary_sha256;
      if (chunk.lines.length === 0 && !summaryChanged) return;
      const files: Record<string, { offset: number; content: string[] }> = {};
      if (chunk.lines.length > 0)
        files["wandb-history.jsonl"] = { offset: chunk.offset, content: chunk.lines };
      if (summaryChanged) files["wandb-summary.json"] = { offset: 0, content: [summary] };
      await this.options.client.fileStream(s.entity!, s.project, s.run, { files }, signal);
      if (summaryChanged) s.summary_sha256 = sha256(summary);
      this.sentLines += chunk.lines.length;
      this.spool.acknowledgeHistory(chunk.lines.length, chunk.endByte);
      if (chunk.atEnd) return;
    }
  }
}

function randomId(): string {
  return randomBytes(16).toString("hex");
}
