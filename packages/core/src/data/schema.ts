/**
 * The SemEval-2025 Task 4 data contract (spec §0.1): task rows `id, input, output, task, split` and MIA rows
 * `id, document`. Unknown extra fields are dropped when a row is parsed (pandas' `__index_level_0__`,
 * for instance), so a parsed row has exactly the schema's fields.
 */
import { z } from "zod";
import { FormatError } from "../errors.js";
import { describeType } from "./issues.js";

export const TASKS = ["Task1", "Task2", "Task3"] as const;
export type Task = (typeof TASKS)[number];

export const SPLITS = ["forget", "retain"] as const;
export type Split = (typeof SPLITS)[number];

/** `sc`: sentence completion (input is a document prefix); `qa`: question and short answer. */
export type RowKind = "sc" | "qa";

/** The id ends in the kind and a single-digit index, e.g. `67148749sc1`, `"2ebb…c7178a82"qa0`. */
const KIND_SUFFIX = /(sc|qa)[0-9]$/;

function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : describeType(value);
}

/** A zod error option that says what was expected and what came instead, or that the field is missing. */
function mustBe(what: string) {
  return {
    error: (issue: { input?: unknown }) =>
      issue.input === undefined ? "is missing" : `must be ${what}, got ${describeType(issue.input)}`,
  };
}

function oneOf(values: readonly string[]) {
  return {
    error: (issue: { input?: unknown }) =>
      issue.input === undefined
        ? "is missing"
        : `must be one of ${values.join(", ")}, got ${shown(issue.input)}`,
  };
}

export const taskRowSchema = z.object(
  {
    id: z.string(mustBe("a string")).regex(KIND_SUFFIX, {
      error: (issue) => `must end in sc<digit> or qa<digit>, got ${shown(issue.input)}`,
    }),
    input: z.string(mustBe("a string")),
    output: z.string(mustBe("a string")),
    task: z.enum(TASKS, oneOf(TASKS)),
    split: z.enum(SPLITS, oneOf(SPLITS)),
  },
  mustBe("an object"),
);
export type TaskRow = z.infer<typeof taskRowSchema>;

/** MIA ids are kept as strings; a numeric id (JSON number, Parquet INT32/INT64) is converted to its digits. */
export const miaRowSchema = z.object(
  {
    id: z
      .union([z.string(), z.number().int(), z.bigint()], mustBe("a string or an integer"))
      .transform((id) => String(id)),
    document: z.string(mustBe("a string")),
  },
  mustBe("an object"),
);
export type MiaRow = z.infer<typeof miaRowSchema>;

/** The field order used by every writer. */
export const TASK_FIELDS = ["id", "input", "output", "task", "split"] as const;
export const MIA_FIELDS = ["id", "document"] as const;

function malformedId(id: string, where?: string): FormatError {
  const prefix = where === undefined ? "" : `${where}: `;
  return new FormatError(`${prefix}id ${JSON.stringify(id)} does not end in sc<digit> or qa<digit>`);
}

/**
 * The row kind, as the official scorer reads it: `id[:-1].endswith("sc")` or `"qa"`, which assumes a
 * single-digit index. Unlike the scorer (which silently scores such rows as neither), a malformed id
 * throws; `where` (e.g. `forget.jsonl:7`) prefixes the message.
 */
export function rowKind(id: string, where?: string): RowKind {
  const match = KIND_SUFFIX.exec(id);
  if (match === null) throw malformedId(id, where);
  return match[1] as RowKind;
}

/** The single-digit index after the kind: `qa3` → 3. */
export function rowIndex(id: string, where?: string): number {
  rowKind(id, where);
  return id.charCodeAt(id.length - 1) - 48;
}

/** The document part of a row id (everything before `sc<d>`/`qa<d>`), quotes included for Task1. */
export function documentId(id: string, where?: string): string {
  rowKind(id, where);
  return id.slice(0, -3);
}
