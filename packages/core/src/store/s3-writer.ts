/**
 * A streaming writer for one S3 object, backed by lib-storage's `Upload`: bytes flow through a stream that
 * Upload cuts into parts of `partSize` and uploads `queueSize` at a time. A body smaller than one part
 * becomes a single PutObject when the writer closes; a larger one is a multipart upload, completed on
 * close. Either way nothing is visible under the key before `close()`.
 *
 * Aborting ends the input stream with an error: Upload then waits for the parts in flight, sends
 * AbortMultipartUpload, and rejects, so once `abort()` resolves no part is left behind on the server.
 */
import { PassThrough } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { LetheError } from "../errors.js";
import { requestFailed } from "./s3-errors.js";
import type { ByteSink } from "./types.js";

export interface UploadTarget {
  client: S3Client;
  bucket: string;
  key: string;
  where: string;
  partSize: number;
  queueSize: number;
}

const BUFFERED_BYTES = 1 << 20;

class WriterAborted extends Error {}

export class S3Sink implements ByteSink {
  bytesWritten = 0;
  private readonly input = new PassThrough({ highWaterMark: BUFFERED_BYTES });
  private upload: Promise<void> | null = null;
  private failure: unknown = null;
  private rejectWaiter: ((err: unknown) => void) | null = null;
  private state: "open" | "closing" | "closed" | "aborted" = "open";

  constructor(private readonly target: UploadTarget) {}

  /** Closed or aborted: nothing more will reach the server. */
  get finished(): boolean {
    return this.state === "closed" || this.state === "aborted";
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.checkOpen("write to");
    this.start();
    if (this.failure) throw this.failure;
    // A copy: the caller may reuse its buffer as soon as write() resolves, long before the part is sent.
    if (!this.input.write(Buffer.from(chunk))) await this.drained();
    this.bytesWritten += chunk.byteLength;
  }

  /** Resolves when the upload has taken the buffered bytes, rejects if it fails first. */
  private drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const onDrain = () => {
        this.rejectWaiter = null;
        resolve();
      };
      this.input.once("drain", onDrain);
      this.rejectWaiter = (err) => {
        this.input.off("drain", onDrain);
        this.rejectWaiter = null;
        reject(err);
      };
    });
  }

  async close(): Promise<void> {
    this.checkOpen("close");
    this.state = "closing";
    const upload = this.start();
    this.input.end();
    await upload;
    this.state = "closed";
  }

  async abort(): Promise<void> {
    if (this.state === "closed" || this.state === "aborted") return;
    this.state = "aborted";
    if (!this.upload) return;
    this.input.destroy(new WriterAborted("aborted"));
    await this.upload.catch(() => undefined);
  }

  private checkOpen(what: string): void {
    if (this.state !== "open") throw new LetheError(`${this.target.where}: cannot ${what} a writer that is ${this.state}`);
  }

  private start(): Promise<void> {
    this.upload ??= new Upload({
      client: this.target.client,
      params: { Bucket: this.target.bucket, Key: this.target.key, Body: this.input },
      partSize: this.target.partSize,
      queueSize: this.target.queueSize,
      leavePartsOnError: false,
    })
      .done()
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure = this.state === "aborted" ? err : requestFailed(this.target.where, "upload", err);
          this.rejectWaiter?.(this.failure);
          throw this.failure;
        },
      );
    // Failures surface through write()/close(); keep an unobserved rejection from crashing the process.
    this.upload.catch(() => undefined);
    return this.upload;
  }
}
