/**
 * Retries with exponential backoff and jitter. Each attempt is a new request (the @wandb/sdk retry
 * re-awaits the promise that already failed). Retried: network errors, timeouts, 408, 429 (honouring
 * Retry-After) and 5xx. Anything else (401, 403, 404, a GraphQL error) fails at once.
 */
import { LetheError } from "@lethe/core";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Stop retrying once this long has passed since the first attempt (default: no bound but maxAttempts). */
  giveUpAfterMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 500, maxDelayMs: 30_000 };

/** How long an unanswered request is retried: LETHE_WANDB_GIVE_UP_S seconds, default 60. */
export function giveUpAfterMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env["LETHE_WANDB_GIVE_UP_S"]);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000;
}

/** The server answered with an error status. */
export class HttpStatusError extends LetheError {
  override readonly name = "HttpStatusError";
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

/** No answer: connection refused or dropped, or no reply within the request timeout. */
export class TransportError extends LetheError {
  override readonly name = "TransportError";
}

export class RetriesExhaustedError extends LetheError {
  override readonly name = "RetriesExhaustedError";
  constructor(
    message: string,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(message);
  }
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof TransportError) return true;
  if (err instanceof HttpStatusError) return err.status === 408 || err.status === 429 || err.status >= 500;
  return false;
}

/** Delay before retry number `retry` (1-based): base·2^(retry-1), capped, with ±50% jitter; at least Retry-After. */
export function backoffDelay(policy: RetryPolicy, retry: number, retryAfterMs: number | null = null): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry - 1, 30));
  const jittered = exponential * (0.5 + Math.random());
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal, options: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (options.unref) timer.unref();
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface RetryEvent {
  what: string;
  attempt: number;
  delayMs: number;
  error: unknown;
  /** Time since the first attempt. */
  elapsedMs: number;
}

/** One line per retry round: what failed, why, and when the next try is. */
export function formatRetry(event: RetryEvent, giveUpMs?: number): string {
  const bound = giveUpMs === undefined ? "" : `, giving up after ${(giveUpMs / 1000).toFixed(0)} s`;
  return (
    `${(event.error as Error).message}; retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)} s` +
    ` (${(event.elapsedMs / 1000).toFixed(1)} s so far${bound})`
  );
}

export async function withRetry<T>(
  what: string,
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
  onRetry?: (event: RetryEvent) => void,
): Promise<T> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!isRetryable(err)) throw err;
      const elapsedMs = Date.now() - started;
      const delayMs = backoffDelay(policy, n, err instanceof HttpStatusError ? err.retryAfterMs : null);
      const outOfTime = policy.giveUpAfterMs !== undefined && elapsedMs + delayMs > policy.giveUpAfterMs;
      if (n >= policy.maxAttempts || outOfTime) {
        const message = (err as Error).message;
        const reason = message.startsWith(`${what}: `) ? message.slice(what.length + 2) : message;
        throw new RetriesExhaustedError(
          `${what}: gave up after ${n} attempts in ${(elapsedMs / 1000).toFixed(1)} s: ${reason}`,
          n,
          err,
        );
      }
      onRetry?.({ what, attempt: n, delayMs, error: err, elapsedMs });
      await sleep(delayMs, signal);
    }
  }
}
