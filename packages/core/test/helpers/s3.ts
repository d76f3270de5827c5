/**
 * Test helpers for the s3:// store: the server the global setup provides, a fresh bucket per test file, an
 * independent S3 client for assertions, and a fault-injecting HTTP proxy to put in front of the server.
 * Tests that need S3: `describe.skipIf(!s3)(...)` (in CI the setup guarantees a server).
 */
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { inject } from "vitest";
import type { S3StoreOptions } from "../../src/store/s3.js";

export const s3 = inject("s3");

export interface TestBucket {
  name: string;
  /** `s3://<bucket>/<path>` */
  uri(path?: string): string;
  /** Store options reaching the test server (through `endpoint`, e.g. a fault proxy, when given). */
  options(extra?: S3StoreOptions & { endpoint?: string }): S3StoreOptions;
  /** A plain SDK client, independent of the store under test, for assertions. */
  client: S3Client;
  /** Every S3 key in the bucket, sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(): Promise<string[]>;
  /** Empty and delete the bucket. */
  remove(): Promise<void>;
}

function server(): NonNullable<typeof s3> {
  if (!s3) throw new Error("no S3 test server: guard the suite with describe.skipIf(!s3)");
  return s3;
}

/** A uniquely named bucket on the test server. */
export async function createTestBucket(label: string): Promise<TestBucket> {
  const { endpoint, region, accessKeyId, secretAccessKey } = server();
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, 30);
  const name = `lethe-${slug}-${randomBytes(4).toString("hex")}`;
  const client = new S3Client({
    endpoint,
    region,
    credentials: { accessKeyId, secretAccessKey },
    forcePathStyle: true,
  });
  await client.send(new CreateBucketCommand({ Bucket: name }));

  const keys = async (prefix = ""): Promise<string[]> => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) if (item.Key) found.push(item.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found.sort();
  };
  const uploads = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: name }))).Uploads ?? [];

  return {
    name,
    client,
    keys,
    uri: (path = "") => (path ? `s3://${name}/${path}` : `s3://${name}`),
    options: (extra = {}) => ({
      endpoint,
      region,
      credentials: { accessKeyId, secretAccessKey },
      forcePathStyle: true,
      retryBaseDelayMs: 1,
      ...extra,
    }),
    pendingUploads: async () => (await uploads()).map((u) => u.Key ?? ""),
    async remove() {
      for (const u of await uploads()) {
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key, UploadId: u.UploadId }),
        );
      }
      for (const key of await keys()) await client.send(new DeleteObjectCommand({ Bucket: name, Key: key }));
      await client.send(new DeleteBucketCommand({ Bucket: name }));
      client.destroy();
    },
  };
}

// ------------------------------------------------------------------------------------------------------
// Fault-injecting proxy

/**
 * What the proxy does to a request it picks:
 * - "slowdown": answers 503 SlowDown (S3's throttling reply) without forwarding;
 * - "too-many-requests": answers 429 (what some S3-compatible servers send when throttling);
 * - "internal-error": answers 500 InternalError without forwarding;
 * - "drop": reads the request and closes the connection without an answer;
 * - "truncate-body": forwards, then cuts the connection halfway through the response body;
 * - "empty-body": forwards, then cuts the connection right after the response headers;
 * - "lose-response": forwards, lets the server finish, then closes the connection without an answer.
 */
export type Fault =
  | "slowdown"
  | "too-many-requests"
  | "internal-error"
  | "drop"
  | "truncate-body"
  | "empty-body"
  | "lose-response";

export interface SeenRequest {
  method: string;
  /** Path and query, e.g. "/bucket/key?partNumber=2&uploadId=...". */
  url: string;
  range?: string;
  /** The fault injected, if any. */
  fault?: Fault;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: use as the store's endpoint. */
  endpoint: string;
  /** Every request, in arrival order. */
  readonly seen: SeenRequest[];
  /** Inject these faults, in order, into the next requests for which `match` holds (default: any). */
  inject(faults: Fault[], match?: (req: SeenRequest) => boolean): void;
  /** Faults still waiting for a matching request. */
  readonly pending: number;
  close(): Promise<void>;
}

export interface FaultProxyLimits {
  /** Beyond this many requests the proxy answers 403 (not retryable), so a retry loop cannot run away. */
  maxRequests?: number;
  /** The proxy shuts itself down after this long. */
  lifetimeMs?: number;
}

export async function startFaultProxy(target: string, limits: FaultProxyLimits = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const maxRequests = limits.maxRequests ?? 500;
  const seen: SeenRequest[] = [];
  let plan: Fault[] = [];
  let matches: (req: SeenRequest) => boolean = () => true;
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Set<Socket>();

  const proxy = http.createServer((req, res) => {
    const entry: SeenRequest = { method: req.method ?? "GET", url: req.url ?? "/" };
    if (typeof req.headers.range === "string") entry.range = req.headers.range;
    seen.push(entry);
    if (seen.length > maxRequests) {
      return answer(
        req,
        res,
        403,
        "ProxyBudgetExhausted",
        `more than ${maxRequests} requests through the proxy`,
      );
    }
    if (plan.length > 0 && matches(entry)) entry.fault = plan.shift();
    switch (entry.fault) {
      case "slowdown":
        return answer(req, res, 503, "SlowDown", "Please reduce your request rate.");
      case "too-many-requests":
        return answer(req, res, 429, "TooManyRequests", "Please slow down.");
      case "internal-error":
        return answer(req, res, 500, "InternalError", "We encountered an internal error. Please try again.");
      case "drop":
        req.resume();
        req.once("end", () => req.socket.destroy());
        return;
      default:
        return forward(req, res, entry.fault);
    }
  });

  function forward(req: http.IncomingMessage, res: http.ServerResponse, fault: Fault | undefined): void {
    const headers = { ...req.headers };
    delete headers.expect; // not signed; the proxy does not relay 100-continue
    delete headers.connection;
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (up) => {
        if (fault === "lose-response") {
          up.resume();
          up.once("end", () => res.socket?.destroy());
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (fault !== "truncate-body" && fault !== "empty-body") {
          up.pipe(res);
          return;
        }
        const cutAt = fault === "empty-body" ? 0 : Math.floor(Number(up.headers["content-length"] ?? 0) / 2);
        let sent = 0;
        const cut = () => {
          up.destroy();
          // end(), not destroy(): the socket sends every byte already written, then closes. (A timer before
          // destroy() lost buffered bytes when the event loop stalled past it.)
          res.socket?.end();
        };
        res.flushHeaders();
        if (cutAt === 0) return cut();
        up.on("data", (chunk: Buffer) => {
          if (sent >= cutAt) return;
          const part = chunk.subarray(0, cutAt - sent);
          sent += part.byteLength;
          res.write(part);
          if (sent >= cutAt) cut();
        });
      },
    );
    out.on("error", () => res.socket?.destroy());
    req.pipe(out);
  }

  proxy.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as AddressInfo).port;

  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      clearTimeout(lifetime);
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      proxy.close(() => resolve());
    });
    return closed;
  };
  const lifetime = setTimeout(close, limits.lifetimeMs ?? 120_000);
  lifetime.unref();

  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    inject(faults, match = () => true) {
      plan = [...faults];
      matches = match;
    },
    get pending() {
      return plan.length;
    },
    close,
  };
}

function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
) {
  req.resume();
  req.once("end", () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}
