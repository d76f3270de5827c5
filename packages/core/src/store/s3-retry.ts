/**
 * Retries for S3 requests: exponential backoff with full jitter (a delay drawn uniformly from
 * [0, min(cap, base·2^n)) before retry n+1), a larger base for throttling (503 SlowDown, 429).
 *
 * `S3RetryStrategy` plugs into the SDK's retry middleware, which classifies each failure: THROTTLING
 * (SlowDown, 429...), TRANSIENT (500/502/503/504, ECONNRESET, EPIPE, timeouts...), SERVER_ERROR (other 5xx)
 * or CLIENT_ERROR (4xx, never retried). Unlike the SDK's standard strategy it has no client-wide retry
 * quota, so one long upload under throttling keeps retrying each request up to `maxAttempts`.
 * The middleware only covers the request up to the response headers: a response body that dies mid-read
 * is resumed by s3-read.ts with the same policy.
 */
import type { S3ClientConfig } from "@aws-sdk/client-s3";

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** Base of the exponential backoff for errors; throttling uses five times this. */
  baseDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100 };

const MAX_DELAY_MS = 20_000;
const THROTTLING_FACTOR = 5;

/** The delay before retry number `retryIndex + 1` (0 for the first retry). */
export function backoffDelay(policy: RetryPolicy, retryIndex: number, throttled: boolean): number {
  const base = throttled ? policy.baseDelayMs * THROTTLING_FACTOR : policy.baseDelayMs;
  return Math.floor(Math.random() * Math.min(MAX_DELAY_MS, base * 2 ** retryIndex));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type SdkRetryStrategy = Extract<NonNullable<S3ClientConfig["retryStrategy"]>, { recordSuccess: unknown }>;
type RetryToken = Awaited<ReturnType<SdkRetryStrategy["acquireInitialRetryToken"]>>;
type RetryErrorInfo = Parameters<SdkRetryStrategy["refreshRetryTokenForRetry"]>[1];

class Token implements RetryToken {
  constructor(
    private readonly count: number,
    private readonly delay: number,
  ) {}
  getRetryCount(): number {
    return this.count;
  }
  /** The middleware sleeps this long before the next attempt. */
  getRetryDelay(): number {
    return this.delay;
  }
}

export class S3RetryStrategy implements SdkRetryStrategy {
  constructor(private readonly policy: RetryPolicy) {}

  async acquireInitialRetryToken(_scope: string): Promise<RetryToken> {
    return new Token(0, 0);
  }

  async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retries = token.getRetryCount();
    const retryable = info.errorType !== "CLIENT_ERROR";
    if (!retryable || retries + 1 >= this.policy.maxAttempts) {
      // The middleware rethrows the request's own error, with $metadata.attempts set.
      throw new Error("no more retries");
    }
    let delay = backoffDelay(this.policy, retries, info.errorType === "THROTTLING");
    if (info.retryAfterHint) {
      delay = Math.max(delay, Math.min(info.retryAfterHint.getTime() - Date.now(), MAX_DELAY_MS));
    }
    return new Token(retries + 1, delay);
  }

  recordSuccess(_token: RetryToken): void {}
}
