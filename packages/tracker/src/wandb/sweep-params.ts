/**
 * The file a sweep agent hands a trial through WANDB_SWEEP_PARAM_PATH: YAML in W&B's config form,
 * `key: {value: v}`. The trial's run merges these values over its own config, as the Python client does.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { FormatError } from "@lethe/core";
import { parse, stringify } from "yaml";
import type { JsonObject } from "../types.js";

export function readSweepParams(path: string): JsonObject {
  let doc: unknown;
  try {
    doc = parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new FormatError(`${path}: not readable sweep parameters (${(err as Error).message})`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new FormatError(`${path}: sweep parameters must be a mapping`);
  const params: JsonObject = {};
  for (const [key, entry] of Object.entries(doc as Record<string, unknown>)) {
    if (entry === null || typeof entry !== "object" || !("value" in entry)) {
      throw new FormatError(`${path}: parameter ${JSON.stringify(key)} must be {value: ...}`);
    }
    params[key] = (entry as { value: unknown }).value;
  }
  return params;
}

export function writeSweepParams(path: string, args: Record<string, { value: unknown }>): void {
  writeFileSync(path, stringify(args));
}
