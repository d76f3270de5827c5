/** Reading the SDK's errors: HTTP status, attempts, and a one-line description for our messages. */
import { LetheError } from "../errors.js";

interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

export function httpStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

export function attemptsOf(err: unknown): number {
  return (err as SdkErrorShape | null)?.$metadata?.attempts ?? 1;
}

export function isNotFound(err: unknown): boolean {
  const name = (err as SdkErrorShape | null)?.name;
  return httpStatus(err) === 404 || name === "NotFound" || name === "NoSuchKey";
}

export function isPreconditionFailed(err: unknown): boolean {
  return httpStatus(err) === 412 || (err as SdkErrorShape | null)?.name === "PreconditionFailed";
}

/** "SlowDown (HTTP 503): Please reduce your request rate." or "ECONNRESET: socket hang up". */
export function describeSdkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const shape = err as SdkErrorShape;
  const status = shape.$metadata?.httpStatusCode;
  const label = shape.code ?? (shape.name && shape.name !== "Error" ? shape.name : undefined);
  const head = [label, status !== undefined ? `(HTTP ${status})` : undefined].filter(Boolean).join(" ");
  const message = shape.message && shape.message !== label ? shape.message : "";
  return head && message ? `${head}: ${message}` : head || message || "unknown error";
}

/** An S3 request that failed for good: names the object, the operation and how many attempts were made. */
export function requestFailed(where: string, operation: string, err: unknown): LetheError {
  const attempts = attemptsOf(err);
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  return new LetheError(`${where}: S3 ${operation} failed${tries}: ${describeSdkError(err)}`, { cause: err });
}
