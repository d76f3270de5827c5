/**
 * From YAML text (or nothing), a preset and `--dotted.path=value` overrides to a validated config:
 *
 *   schema defaults  <  preset  <  config file  <  overrides
 *
 * A problem is reported against where the offending value came from: the override flag that set it, or
 * the config file.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { didYouMean } from "./edit-distance.js";
import { ConfigError } from "./errors.js";
import { describeIssue, issueLines, shown } from "./messages.js";
import { applyOverrides, type Override, overrideValue } from "./overrides.js";
import { PRESETS, type PresetDocument } from "./presets.js";
import {
  type DraftTrainConfig,
  draftConfigSchema,
  PRESET_NAMES,
  type PresetName,
  type TrainConfig,
  trainConfigSchema,
} from "./schema.js";

export interface ResolveOptions {
  /** How messages name the config file. */
  source?: string;
  /** `--preset NAME`; wins over a `preset:` key in the file. */
  preset?: string | null;
  overrides?: readonly Override[];
}

function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** `over` on top of `base`: mappings merge key by key, anything else (lists included) replaces. */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isMapping(current) && isMapping(value) ? deepMerge(current, value) : structuredClone(value);
  }
  return out;
}

export function presetDocument(name: string): PresetDocument {
  if (!(PRESET_NAMES as readonly string[]).includes(name)) {
    throw new ConfigError(
      `preset: unknown preset "${name}"${didYouMean(name, PRESET_NAMES)} (allowed: ${PRESET_NAMES.join(", ")})`,
    );
  }
  return PRESETS[name as PresetName];
}

/** Parse YAML text into the document a config is read from (an empty file is an empty mapping). */
export function parseConfigText(text: string, source: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isMapping(doc))
    throw new ConfigError(`${source}: a training config must be a YAML mapping, got ${shown(doc)}`);
  return doc;
}

/** The merged document, before validation: preset, file, overrides. */
export function mergedDocument(
  document: Record<string, unknown>,
  options: ResolveOptions = {},
): Record<string, unknown> {
  const fileDoc = structuredClone(document);
  // `--preset=NAME` arrives as an override but must act as `--preset NAME`: the preset goes under the file.
  const presetFlag = (options.overrides ?? []).findLast((o) => o.path === "preset");
  const overrides = (options.overrides ?? []).filter((o) => o.path !== "preset");
  const flagPreset = presetFlag === undefined ? undefined : overrideValue(presetFlag);
  const presetName = options.preset ?? flagPreset ?? fileDoc["preset"];
  let merged = fileDoc;
  if (presetName !== undefined && presetName !== null) {
    if (typeof presetName !== "string") {
      throw new ConfigError(
        `${options.source ?? "config"}: preset: must be a preset name, got ${shown(presetName)}`,
      );
    }
    merged = deepMerge(presetDocument(presetName), fileDoc);
    merged["preset"] = presetName;
  }
  return applyOverrides(merged, overrides, trainConfigSchema);
}

function validate<S extends z.ZodType>(
  schema: S,
  doc: Record<string, unknown>,
  options: ResolveOptions,
): z.output<S> {
  const result = schema.safeParse(doc, { error: (issue) => describeIssue(issue) });
  if (result.success) return result.data;
  const source = options.source ?? "config";
  const lines = issueLines(schema, result.error.issues).map(({ path, text }) => {
    const flag = [...(options.overrides ?? [])]
      .reverse()
      .find((o) => path === o.path || path.startsWith(`${o.path}.`) || o.path.startsWith(`${path}.`));
    return flag === undefined ? `${source}: ${text}` : `--${flag.path}=${flag.text}: ${text}`;
  });
  throw new ConfigError(lines.join("\n"));
}

/** A runnable config: `model`, `out` and `data.forget` must be set. */
export function resolveTrainConfig(
  document: Record<string, unknown>,
  options: ResolveOptions = {},
): TrainConfig {
  return validate(trainConfigSchema, mergedDocument(document, options), options);
}

/** A config that may lack `model`, `out` and `data.forget`: what `--preset NAME --print-config` shows. */
export function resolveDraftConfig(
  document: Record<string, unknown>,
  options: ResolveOptions = {},
): DraftTrainConfig {
  const merged = mergedDocument(document, options);
  if (merged["data"] === undefined) merged["data"] = {};
  return validate(draftConfigSchema, merged, options);
}

/** Read, merge and validate a config file. */
export async function loadTrainConfig(
  file: string,
  options: Omit<ResolveOptions, "source"> = {},
): Promise<TrainConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`${file}: cannot read the config (${reason})`);
  }
  return resolveTrainConfig(parseConfigText(text, file), { ...options, source: file });
}
