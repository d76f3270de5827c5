/**
 * The HTTP side of the W&B protocol: GraphQL at `<base>/graphql`, the run's `file_stream` endpoint, and
 * PUTs to signed upload URLs. Every call is retried by retry.ts with a fresh request per attempt and a
 * per-attempt timeout; callers make their requests idempotent (fixed offsets, upserts by name).
 */
import { LetheError } from "@lethe/core";
import { basicAuthHeader } from "./env.js";
import {
  DEFAULT_RETRY,
  formatRetry,
  giveUpAfterMs,
  HttpStatusError,
  RetriesExhaustedError,
  type RetryEvent,
  type RetryPolicy,
  TransportError,
  withRetry,
} from "./retry.js";

export interface ClientOptions {
  /** Timeout of one attempt (connect, send, and read the whole reply). */
  requestTimeoutMs: number;
  /** Backoff; `giveUpAfterMs` defaults to LETHE_WANDB_GIVE_UP_S (60 s). */
  retry: RetryPolicy;
  userAgent: string;
  /** Called before each retry; default: one line on stderr (`retryLine` formats it). */
  onRetry?: (event: RetryEvent) => void;
  /** Where the default `onRetry` writes its line (default stderr). */
  warn?: (line: string) => void;
}

export const DEFAULT_CLIENT_OPTIONS: ClientOptions = {
  requestTimeoutMs: 30_000,
  retry: DEFAULT_RETRY,
  userAgent: "Lethe tracker (W&B protocol)",
};

/** A GraphQL reply with `errors` (the operation was refused; retrying the same request will not help). */
export class GraphQLError extends LetheError {
  override readonly name = "GraphQLError";
}

/** The body of a file_stream POST (§2.1 of the protocol notes). */
export interface FileStreamBody {
  files?: Record<string, { offset: number; content: string[] }>;
  complete?: boolean;
  exitcode?: number;
}

export function operationName(query: string): string {
  return /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? "anonymous";
}

function retryAfterMs(header: string | null): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function describeFailure(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if ((err as Error).name === "TimeoutError") return "no reply before the timeout";
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export class WandbClient {
  readonly options: ClientOptions;
  private readonly auth: string | null;

  constructor(
    readonly baseUrl: string,
    apiKey: string | null,
    options: Partial<ClientOptions> = {},
  ) {
    const retry = { giveUpAfterMs: giveUpAfterMs(), ...(options.retry ?? DEFAULT_RETRY) };
    const warn = options.warn ?? ((line: string) => process.stderr.write(`lethe-track: ${line}\n`));
    this.options = {
      ...DEFAULT_CLIENT_OPTIONS,
      onRetry: (event) => warn(formatRetry(event, retry.giveUpAfterMs)),
      ...options,
      retry,
    };
    this.auth = apiKey === null ? null : basicAuthHeader(apiKey);
  }

  /** What to do when the server does not answer, for the give-up message. */
  private remedy(): string {
    const bound = this.options.retry.giveUpAfterMs;
    return (
      `check WANDB_BASE_URL (now ${this.baseUrl}) and that the server is up; to work without it, set ` +
      "WANDB_MODE=offline and upload later with `lethe-track sync RUN_DIR`" +
      (bound === undefined ? "" : `; LETHE_WANDB_GIVE_UP_S sets how long to retry (now ${bound / 1000})`)
    );
  }

  /** Run a GraphQL operation and return its `data`. */
  async graphql<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const op = operationName(query);
    const text = await this.request(
      "POST",
      `${this.baseUrl}/graphql`,
      JSON.stringify({ query, variables }),
      {},
      `W&B ${op} at ${this.baseUrl}/graphql`,
      signal,
    );
    let reply: { data?: T; errors?: { message?: string }[] };
    try {
      reply = JSON.parse(text);
    } catch {
      throw new GraphQLError(`W&B ${op}: the reply is not JSON: ${text.slice(0, 200)}`);
    }
    if (reply.errors && reply.errors.length > 0) {
      throw new GraphQLError(
        `W&B ${op}: ${reply.errors.map((e) => e.message ?? JSON.stringify(e)).join("; ")}`,
      );
    }
    if (reply.data === undefined || reply.data === null)
      throw new GraphQLError(`W&B ${op}: the reply has no data`);
    return reply.data;
  }

  async fileStream(
    entity: string,
    project: string,
    runId: string,
    body: FileStreamBody,
    signal?: AbortSignal,
  ): Promise<void> {
    const path = `/files/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/${encodeURIComponent(runId)}/file_stream`;
    await this.request(
      "POST",
      this.baseUrl + path,
      JSON.stringify(body),
      {},
      `W&B file_stream at ${this.baseUrl}${path}`,
      signal,
    );
  }

  /** PUT a file to a signed upload URL (no W&B auth header: the URL carries its own credentials). */
  async upload(
    url: string,
    headers: Record<string, string>,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.request("PUT", url, body, headers, `upload to ${url.split("?")[0]}`, signal, false);
  }

  private request(
    method: string,
    url: string,
    body: string | Uint8Array,
    extraHeaders: Record<string, string>,
    what: string,
    signal: AbortSignal | undefined,
    withAuth = true,
  ): Promise<string> {
    return this.attempts(method, url, body, extraHeaders, what, signal, withAuth).catch((err: unknown) => {
      if (!(err instanceof RetriesExhaustedError)) throw err;
      throw new RetriesExhaustedError(`${err.message}\n${this.remedy()}`, err.attempts, err.lastError);
    });
  }

  private attempts(
    method: string,
    url: string,
    body: string | Uint8Array,
    extraHeaders: Record<string, string>,
    what: string,
    signal: AbortSignal | undefined,
    withAuth: boolean,
  ): Promise<string> {
    const headers: Record<string, string> = { "User-Agent": this.options.userAgent, ...extraHeaders };
    if (typeof body === "string") headers["Content-Type"] = "application/json";
    if (withAuth && this.auth !== null) headers["Authorization"] = this.auth;
    return withRetry(
      what,
      async () => {
        const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
        const attemptSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
        let status: number;
        let text: string;
        let retryAfter: string | null;
        try {
          const response = await fetch(url, { method, headers, body, signal: attemptSignal });
          status = response.status;
          retryAfter = response.headers.get("retry-after");
          text = await response.text();
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          throw new TransportError(`${what}: ${describeFailure(err)}`);
        }
        if (status >= 400) {
          throw new HttpStatusError(
            `${what}: HTTP ${status} ${text.slice(0, 200)}`.trim(),
            status,
            retryAfterMs(retryAfter),
          );
        }
        return text;
      },
      this.options.retry,
      signal,
      this.options.onRetry,
    );
  }
}
