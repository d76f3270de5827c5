/**
 * The Weights & Biases backend. It never holds data only in memory: the local backend has already
 * appended a row to history.jsonl when log() reaches this backend, which only wakes its upload loop.
 * The loop drains the spool at most once per flush interval, retrying with backoff; when the server is
 * unreachable rows wait on disk. finish() uploads the rest and sends `complete`; whatever it cannot
 * deliver within finishTimeoutMs stays spooled for `lethe-track sync`. With WANDB_MODE=offline nothing is
 * sent at all.
 */
import { errorMessage, LetheError } from "@lethe/core";
import type { JsonObject } from "../types.js";
import { type ClientOptions, GraphQLError, WandbClient } from "../wandb/client.js";
import type { WandbSettings } from "../wandb/env.js";
import { backoffDelay, HttpStatusError, isRetryable, sleep } from "../wandb/retry.js";
import { Spool } from "../wandb/spool.js";
import { RunUploader } from "../wandb/uploader.js";
import type { Backend, RunInfo } from "./types.js";

export interface WandbBackendOptions {
  /** Minimum time between two uploads while the run is live (W&B's client uses 2 s). */
  flushIntervalMs?: number;
  /** How long start() waits for the server before it carries on spooling. */
  initTimeoutMs?: number;
  /** How long finish() keeps trying to upload what is left. */
  finishTimeoutMs?: number;
  client?: Partial<ClientOptions>;
  batchLines?: number;
  batchBytes?: number;
  /** Where warnings go; default stderr. */
  warn?: (message: string) => void;
}

/** An error that retrying will not fix: bad key, no such entity, a refused operation. */
export function isPermanentError(err: unknown): boolean {
  return err instanceof GraphQLError || (err instanceof HttpStatusError && !isRetryable(err));
}

export class WandbBackend implements Backend {
  readonly kind = "wandb";
  private uploader: RunUploader | null = null;
  private info: RunInfo | null = null;
  private dirty = true;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly loopAbort = new AbortController();
  private stopping = false;
  private fatal: unknown = null;
  private finished = false;
  private readonly warn: (message: string) => void;

  constructor(
    readonly settings: WandbSettings,
    private readonly options: WandbBackendOptions = {},
  ) {
    this.warn = options.warn ?? ((message) => process.stderr.write(`lethe-track: ${message}\n`));
  }

  get url(): string | null {
    return this.uploader?.url ?? null;
  }

  async start(info: RunInfo): Promise<void> {
    if (info.dir === null)
      throw new LetheError("the W&B backend spools into the run directory and needs one");
    this.info = info;
    const { settings } = this;
    if (settings.mode === "offline") {
      const spool = Spool.open(info.dir, {
        baseUrl: settings.baseUrl,
        entity: settings.entity,
        project: info.project,
        run: info.id,
        mode: "offline",
      });
      if (info.resumed) spool.reopen();
      return;
    }
    if (settings.apiKey === null) {
      throw new LetheError(
        `W&B: no API key for ${settings.baseUrl}: set WANDB_API_KEY (or WANDB_MODE=offline to upload later with lethe-track sync)`,
      );
    }
    const client = new WandbClient(settings.baseUrl, settings.apiKey, {
      warn: this.warn,
      ...this.options.client,
    });
    this.uploader = new RunUploader({
      client,
      dir: info.dir,
      entity: settings.entity,
      project: info.project,
      ...(this.options.batchLines !== undefined && { batchLines: this.options.batchLines }),
      ...(this.options.batchBytes !== undefined && { batchBytes: this.options.batchBytes }),
    });
    if (info.resumed) this.uploader.spool.reopen();
    try {
      await this.uploader.connect(AbortSignal.timeout(this.options.initTimeoutMs ?? 30_000));
    } catch (err) {
      if (isPermanentError(err)) throw err;
      this.warn(
        `W&B is not answering (${errorMessage(err)}); run ${info.id} is spooled in ${info.dir} and uploads when it answers`,
      );
    }
    this.loopDone = this.loop();
  }

  log(): void {
    this.wake();
  }
  summary(_summary: JsonObject): void {
    this.wake();
  }
  config(_config: JsonObject): void {
    this.wake();
  }
  table(): void {
    this.wake();
  }
  artifact(): void {
    this.wake();
  }

  async finish(exitCode: number): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const info = this.info;
    if (info === null) return;
    if (this.uploader === null) {
      if (this.settings.mode === "offline")
        this.warn(`W&B offline: upload run ${info.id} later with: lethe-track sync ${info.dir}`);
      return;
    }
    this.stopping = true;
    this.loopAbort.abort();
    this.wakeUp?.();
    await this.loopDone;
    if (this.fatal !== null) {
      this.warn(
        `W&B refused run ${info.id} (${errorMessage(this.fatal)}); it stays in ${info.dir}: lethe-track sync ${info.dir}`,
      );
      return;
    }
    try {
      await this.uploader.drain({
        complete: exitCode,
        signal: AbortSignal.timeout(this.options.finishTimeoutMs ?? 120_000),
      });
    } catch (err) {
      const left = this.uploader.spool.unsentLines();
      this.warn(
        `W&B upload of run ${info.id} is incomplete (${errorMessage(err)}); ${left} history rows are spooled, upload them with: lethe-track sync ${info.dir}`,
      );
    }
  }

  finishSync(): void {
    if (this.finished || this.info === null) return;
    this.finished = true;
    if (this.uploader === null) {
      if (this.settings.mode === "offline")
        this.warn(`W&B offline: upload run ${this.info.id} later with: lethe-track sync ${this.info.dir}`);
      return;
    }
    const left = this.uploader.spool.unsentLines();
    this.warn(
      `the process exited before run ${this.info.id} was uploaded (${left} history rows pending): lethe-track sync ${this.info.dir}`,
    );
  }

  private wake(): void {
    this.dirty = true;
    this.wakeUp?.();
  }

  private async waitForWork(): Promise<void> {
    if (!this.dirty) await new Promise<void>((resolve) => (this.wakeUp = resolve));
    this.wakeUp = null;
    if (this.stopping) return;
    await sleep(this.options.flushIntervalMs ?? 2000, this.loopAbort.signal, { unref: true }).catch(() => {});
  }

  private async loop(): Promise<void> {
    let failures = 0;
    const uploader = this.uploader!;
    while (!this.stopping) {
      await this.waitForWork();
      if (this.stopping) return;
      this.dirty = false;
      try {
        await uploader.drain({ signal: this.loopAbort.signal });
        failures = 0;
      } catch (err) {
        if (this.stopping) return;
        if (isPermanentError(err)) {
          this.fatal = err;
          this.warn(
            `W&B refused an upload (${errorMessage(err)}); run ${this.info!.id} keeps recording locally`,
          );
          return;
        }
        failures++;
        if (failures === 1)
          this.warn(`W&B upload stalled (${errorMessage(err)}); retrying, rows stay spooled`);
        this.dirty = true;
        const policy = uploader.retryPolicy;
        await sleep(backoffDelay(policy, failures), this.loopAbort.signal, { unref: true }).catch(() => {});
      }
    }
  }
}
