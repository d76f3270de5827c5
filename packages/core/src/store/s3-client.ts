/**
 * The S3 client a store talks through. Unset options fall back to the AWS SDK's own configuration chain:
 * endpoint from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / the shared config file, region from AWS_REGION /
 * the config file (us-east-1 when none is set, following region redirects), credentials from the default
 * provider chain (env, shared files, SSO, web identity, instance metadata). S3-compatible servers usually
 * need path-style addressing: `forcePathStyle` or LETHE_S3_FORCE_PATH_STYLE=1.
 */
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, S3RetryStrategy } from "./s3-retry.js";

export interface S3ClientOptions {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, the first included (default AWS_MAX_ATTEMPTS or 5). */
  maxAttempts?: number;
  /** Base of the retry backoff in milliseconds (default 100; throttling waits five times longer). */
  retryBaseDelayMs?: number;
  /** Connections kept per endpoint (default 64). */
  maxSockets?: number;
}

export function retryPolicyOf(options: S3ClientOptions): RetryPolicy {
  const fromEnv = Number.parseInt(process.env.AWS_MAX_ATTEMPTS ?? "", 10);
  return {
    maxAttempts: Math.max(
      1,
      options.maxAttempts ?? (fromEnv > 0 ? fromEnv : DEFAULT_RETRY_POLICY.maxAttempts),
    ),
    baseDelayMs: options.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
  };
}

export function forcePathStyleFromEnv(): boolean {
  const value = (process.env.LETHE_S3_FORCE_PATH_STYLE ?? "").toLowerCase();
  return value === "1" || value === "true" || value === "yes";
}

export function createS3Client(options: S3ClientOptions): S3Client {
  // The SDK warns on stderr, once per process, that releases after January 2027 will need Node 22. The SDK
  // version is pinned here, so the notice is not actionable and would pollute every CLI's output; setting the
  // variable to anything else (e.g. "false") brings it back.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const policy = retryPolicyOf(options);
  const agent = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
  const config: S3ClientConfig = {
    region: options.region ?? defaultRegion,
    followRegionRedirects: options.region === undefined,
    forcePathStyle: options.forcePathStyle ?? forcePathStyleFromEnv(),
    maxAttempts: policy.maxAttempts,
    retryStrategy: new S3RetryStrategy(policy),
    // A connection silent for two minutes fails (then is retried, or resumed mid-read) instead of hanging.
    requestHandler: {
      connectionTimeout: 10_000,
      socketTimeout: 120_000,
      httpAgent: agent,
      httpsAgent: agent,
    },
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  return new S3Client(config);
}

let regionLookup: Promise<string> | null = null;

/** The region the SDK finds in env/config files, or us-east-1 (S3-compatible servers ignore it). */
function defaultRegion(): Promise<string> {
  regionLookup ??= (async () => {
    const probe = new S3Client({});
    try {
      return await probe.config.region();
    } catch {
      return "us-east-1";
    } finally {
      probe.destroy();
    }
  })();
  return regionLookup;
}
