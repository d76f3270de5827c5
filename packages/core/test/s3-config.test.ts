/**
 * The parts of the s3:// store that need no server: URIs and keys, retry decisions and backoff bounds,
 * option checks.
 */
import { describe, expect, it } from "vitest";
import { LetheError } from "../src/errors.js";
import { createS3Store } from "../src/store/s3.js";
import { forcePathStyleFromEnv, retryPolicyOf } from "../src/store/s3-client.js";
import { checkKey, formatS3Uri, parseS3Uri } from "../src/store/s3-location.js";
import { backoffDelay, S3RetryStrategy } from "../src/store/s3-retry.js";

describe("s3:// URIs", () => {
  it("splits bucket and prefix, normalising trailing slashes", () => {
    expect(parseS3Uri("s3://bucket")).toEqual({ bucket: "bucket", prefix: "" });
    expect(parseS3Uri("s3://bucket/")).toEqual({ bucket: "bucket", prefix: "" });
    expect(parseS3Uri("s3://bucket/runs/ckpt")).toEqual({ bucket: "bucket", prefix: "runs/ckpt/" });
    expect(parseS3Uri("s3://bucket/runs/ckpt//")).toEqual({ bucket: "bucket", prefix: "runs/ckpt/" });
    expect(formatS3Uri({ bucket: "b", prefix: "runs/ckpt/" })).toBe("s3://b/runs/ckpt");
    expect(formatS3Uri({ bucket: "b", prefix: "runs/ckpt/" }, "model.safetensors")).toBe(
      "s3://b/runs/ckpt/model.safetensors",
    );
    expect(formatS3Uri({ bucket: "b", prefix: "" })).toBe("s3://b");
  });

  it("names the URI it cannot parse", () => {
    expect(() => parseS3Uri("s3://")).toThrow(
      'invalid S3 URI "s3://": expected s3://bucket or s3://bucket/prefix',
    );
    expect(() => parseS3Uri("s3:///key")).toThrow(LetheError);
    expect(() => parseS3Uri("s3://b/a/../x")).toThrow('invalid key "a/../x" in s3://b/a/../x');
  });

  it("accepts relative keys only", () => {
    for (const good of ["config.json", "sub/dir/file.bin", ".lethe-publishing", "a..b"]) {
      expect(() => checkKey(good, "s3://b")).not.toThrow();
    }
    for (const bad of ["", "/abs", "a//b", "./a", "a/..", "dir/"]) {
      expect(() => checkKey(bad, "s3://b/p")).toThrow(
        `invalid key "${bad}" in s3://b/p: expected a relative path like "dir/file.json"`,
      );
    }
  });
});

describe("S3 retries", () => {
  const policy = { maxAttempts: 4, baseDelayMs: 100 };
  const strategy = new S3RetryStrategy(policy);
  const retryAfter = async (
    errorType: "THROTTLING" | "TRANSIENT" | "SERVER_ERROR" | "CLIENT_ERROR",
    count = 0,
  ) => {
    let token = await strategy.acquireInitialRetryToken("");
    for (let i = 0; i < count; i++)
      token = await strategy.refreshRetryTokenForRetry(token, { errorType: "TRANSIENT" });
    return strategy.refreshRetryTokenForRetry(token, { errorType });
  };

  it("retries throttling, transient and server errors, never client errors", async () => {
    expect((await retryAfter("THROTTLING")).getRetryCount()).toBe(1);
    expect((await retryAfter("TRANSIENT")).getRetryCount()).toBe(1);
    expect((await retryAfter("SERVER_ERROR")).getRetryCount()).toBe(1);
    await expect(retryAfter("CLIENT_ERROR")).rejects.toThrow("no more retries");
  });

  it("stops after maxAttempts attempts in all", async () => {
    expect((await retryAfter("TRANSIENT", 2)).getRetryCount()).toBe(3); // the 4th attempt is allowed
    await expect(retryAfter("TRANSIENT", 3)).rejects.toThrow("no more retries");
  });

  it("waits a uniformly jittered, exponentially growing, capped delay", () => {
    const samples = (retry: number, throttled: boolean) =>
      Array.from({ length: 2000 }, () => backoffDelay(policy, retry, throttled));
    for (const [retry, throttled, ceiling] of [
      [0, false, 100],
      [3, false, 800],
      [2, true, 2000],
      [12, false, 20_000],
    ] as const) {
      const xs = samples(retry, throttled);
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...xs)).toBeLessThan(ceiling);
      // Full jitter: the mean of a uniform [0, ceiling) draw is ceiling / 2.
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean).toBeGreaterThan(ceiling * 0.4);
      expect(mean).toBeLessThan(ceiling * 0.6);
    }
  });

  it("honours a Retry-After hint, up to the cap", async () => {
    const token = await strategy.acquireInitialRetryToken("");
    const hinted = await strategy.refreshRetryTokenForRetry(token, {
      errorType: "THROTTLING",
      retryAfterHint: new Date(Date.now() + 3_000),
    });
    expect(hinted.getRetryDelay()).toBeGreaterThan(2_500);
    expect(hinted.getRetryDelay()).toBeLessThanOrEqual(3_000);
  });
});

describe("S3 store options", () => {
  it("reads maxAttempts from the options, else AWS_MAX_ATTEMPTS, else 5", () => {
    const saved = process.env.AWS_MAX_ATTEMPTS;
    try {
      delete process.env.AWS_MAX_ATTEMPTS;
      expect(retryPolicyOf({})).toEqual({ maxAttempts: 5, baseDelayMs: 100 });
      process.env.AWS_MAX_ATTEMPTS = "7";
      expect(retryPolicyOf({}).maxAttempts).toBe(7);
      expect(retryPolicyOf({ maxAttempts: 2, retryBaseDelayMs: 1 })).toEqual({
        maxAttempts: 2,
        baseDelayMs: 1,
      });
    } finally {
      if (saved === undefined) delete process.env.AWS_MAX_ATTEMPTS;
      else process.env.AWS_MAX_ATTEMPTS = saved;
    }
  });

  it("reads path-style addressing from LETHE_S3_FORCE_PATH_STYLE", () => {
    const saved = process.env.LETHE_S3_FORCE_PATH_STYLE;
    try {
      for (const [value, expected] of [
        ["1", true],
        ["true", true],
        ["0", false],
        ["", false],
      ] as const) {
        process.env.LETHE_S3_FORCE_PATH_STYLE = value;
        expect(forcePathStyleFromEnv()).toBe(expected);
      }
    } finally {
      if (saved === undefined) delete process.env.LETHE_S3_FORCE_PATH_STYLE;
      else process.env.LETHE_S3_FORCE_PATH_STYLE = saved;
    }
  });

  it("refuses parts below the S3 minimum and names the store", () => {
    expect(() => createS3Store("s3://b/p", { partSize: 1 << 20, region: "us-east-1" })).toThrow(
      "s3://b/p: partSize 1048576 is below the S3 minimum of 5242880 bytes",
    );
    expect(createS3Store("s3://b/p/", { region: "us-east-1" }).uri).toBe("s3://b/p");
    expect(createS3Store("s3://b/p", { region: "us-east-1" }).child("sub/dir").uri).toBe("s3://b/p/sub/dir");
  });
});
