/**
 * Turning zod issues into messages that name the dotted field, the allowed values and what was given:
 * `loss.forget: must be one of npo, ga, simnpo, rmu, adaptive_rmu, sft, none, got "npx"`.
 */
import type { z } from "zod";
import { didYouMean } from "./edit-distance.js";
import { keysAt } from "./paths.js";

/** A value as messages show it: strings quoted, lists and mappings by kind. */
export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `a list ${JSON.stringify(value)}`;
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

const TYPE_NAMES: Record<string, string> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  tuple: "a list",
  record: "a mapping",
};

interface RawIssue {
  code?: string;
  input?: unknown;
  expected?: string;
  values?: readonly unknown[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  origin?: string;
}

function bound(issue: RawIssue, below: boolean): string {
  const limit = Number(below ? issue.minimum : issue.maximum);
  const got = shown(issue.input);
  if (issue.origin === "string") return below ? `must not be empty, got ${got}` : `is too long`;
  if (issue.origin === "array" || issue.origin === "set") {
    return below ? `must have at least ${limit} entries, got ${got}` : `must have at most ${limit} entries`;
  }
  const op = below ? (issue.inclusive ? "≥" : ">") : issue.inclusive ? "≤" : "<";
  return `must be ${op} ${limit}, got ${got}`;
}

/** The per-parse error map: field-level `error` options in the schema take precedence over it. */
export function describeIssue(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_value": {
      const values = (issue.values ?? []).map((v) => String(v));
      return values.length === 1
        ? `must be ${values[0]}, got ${shown(issue.input)}`
        : `must be one of ${values.join(", ")}, got ${shown(issue.input)}`;
    }
    case "invalid_type":
      if (issue.input === undefined) return "is required";
      return `must be ${TYPE_NAMES[issue.expected ?? ""] ?? issue.expected}, got ${shown(issue.input)}`;
    case "too_small":
      return bound(issue, true);
    case "too_big":
      return bound(issue, false);
    case "invalid_key":
      return "is not an allowed key";
    default:
      return undefined;
  }
}

function dotted(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

/** One line per problem, each `FIELD: message`; an unknown key gets one line with the nearest known key. */
export function issueLines(
  schema: z.ZodType,
  issues: readonly z.core.$ZodIssue[],
): { path: string; text: string }[] {
  const lines: { path: string; text: string }[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(schema, issue.path as (string | number)[]);
      for (const key of issue.keys) {
        const path = dotted([...issue.path, key]);
        lines.push({
          path,
          text: `${path}: unknown key${didYouMean(key, known)} (allowed: ${known.join(", ")})`,
        });
      }
      continue;
    }
    const path = dotted(issue.path);
    lines.push({ path, text: path === "" ? issue.message : `${path}: ${issue.message}` });
  }
  return lines;
}
