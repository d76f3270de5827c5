/**
 * Errors that name what is wrong and where. Every error Lethe throws on bad input is one of these, so
 * callers (and CLIs) can tell "your file is broken" from "the store refused".
 */
export class LetheError extends Error {
  override readonly name: string = "LetheError";
}

/** A file or object that does not exist. */
export class NotFoundError extends LetheError {
  override readonly name: string = "NotFoundError";
}

/** A create-only write found something already there (another writer, or an earlier run). */
export class ConflictError extends LetheError {
  override readonly name: string = "ConflictError";
}

/** Malformed content: a safetensors header, a manifest, a dataset row, a config. */
export class FormatError extends LetheError {
  override readonly name: string = "FormatError";
}

/** Content that does not match what its manifest promises (size, sha256). */
export class IntegrityError extends LetheError {
  override readonly name: string = "IntegrityError";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
