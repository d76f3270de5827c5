/**
 * Command-line overrides `--dotted.path=value`, as W&B sweep agents pass them (`--loss.npo.beta=0.2`).
 * Values are YAML scalars or flow collections (`0.2`, `1e-4`, `true`, `auto`, `[0.9, 0.95]`,
 * `{Task1: 256}`), so numbers stay numbers. Paths are checked against the schema before anything is set:
 * an unknown one is an error naming it and the nearest real path.
 */
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { closestMatch } from "./edit-distance.js";
import { ConfigError } from "./errors.js";
import { fieldPaths, nodeOf, schemaAt } from "./paths.js";

export interface Override {
  /** Dotted path, without the leading `--`. */
  path: string;
  /** The value as typed (YAML text). */
  text: string;
}

/** `--loss.npo.beta=0.2` → `{ path: "loss.npo.beta", text: "0.2" }`; null for an argument of another shape. */
export function parseOverride(arg: string): Override | null {
  const match = /^--([A-Za-z_][\w-]*(?:\.[\w-]+)*)=(.*)$/s.exec(arg);
  return match === null ? null : { path: match[1] as string, text: match[2] as string };
}

/** Separate `--dotted.path=value` arguments from the rest (positionals, `--resume CKPT`, `--print-config`). */
export function splitOverrides(args: readonly string[]): { overrides: Override[]; rest: string[] } {
  const overrides: Override[] = [];
  const rest: string[] = [];
  for (const arg of args) {
    const override = parseOverride(arg);
    if (override === null) rest.push(arg);
    else overrides.push(override);
  }
  return { overrides, rest };
}

export function overrideValue(override: Override): unknown {
  try {
    return parseYaml(override.text);
  } catch (err) {
    const reason = (err as Error).message.split("\n")[0];
    throw new ConfigError(`--${override.path}=${override.text}: not a valid YAML value (${reason})`);
  }
}

function suggestion(path: string, schema: z.ZodType): string {
  const known = fieldPaths(schema);
  // `--beta=…` or `--npo.beta=…`: a known path ending in what was typed is the likeliest intent.
  const bySuffix = known.filter((p) => p.endsWith(`.${path}`));
  const match = bySuffix.length === 1 ? bySuffix[0] : closestMatch(path, known);
  return match === undefined ? "" : `; did you mean --${match}?`;
}

/** Check that `path` names a field of the schema (a section, a value, a map entry or a list index). */
export function checkOverridePath(path: string, schema: z.ZodType): void {
  const segments = path.split(".");
  let node = nodeOf(schema);
  for (const [i, segment] of segments.entries()) {
    const prefix = segments.slice(0, i).join(".");
    let next: z.ZodType | undefined;
    if (node.kind === "section") next = node.fields[segment];
    else if (node.kind === "map")
      next = node.keys === null || node.keys.includes(segment) ? node.value : undefined;
    else if (node.kind === "list" && /^\d+$/.test(segment)) {
      next = node.items ? node.items[Number(segment)] : (node.element ?? undefined);
    } else if (node.kind === "value") {
      throw new ConfigError(`--${path}: ${prefix} is a value, not a section (set --${prefix}=…)`);
    }
    if (next === undefined) {
      throw new ConfigError(`--${path}: unknown config field "${path}"${suggestion(path, schema)}`);
    }
    node = nodeOf(next);
  }
}

function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * What a missing section or list becomes before one of its entries is set: the field's default (so
 * `--optim.betas.1=0.95` keeps the default first beta), else an empty mapping.
 */
function emptyContainer(schema: z.ZodType, path: readonly string[]): Record<string, unknown> | unknown[] {
  const parsed = schemaAt(schema, path)?.safeParse(undefined);
  const value: unknown = parsed?.success ? parsed.data : undefined;
  return isMapping(value) || Array.isArray(value) ? structuredClone(value) : {};
}

/** Apply overrides in order onto a copy of a YAML document (before validation). */
export function applyOverrides(
  document: Record<string, unknown>,
  overrides: readonly Override[],
  schema: z.ZodType,
): Record<string, unknown> {
  const root = structuredClone(document);
  for (const override of overrides) {
    checkOverridePath(override.path, schema);
    const value = overrideValue(override);
    const segments = override.path.split(".");
    let node: Record<string, unknown> | unknown[] = root;
    for (const [i, segment] of segments.entries()) {
      const last = i === segments.length - 1;
      const key: string | number = Array.isArray(node) ? Number(segment) : segment;
      const holder = node as Record<string | number, unknown>;
      if (last) {
        holder[key] = value;
        break;
      }
      let child = holder[key];
      if (!isMapping(child) && !Array.isArray(child)) {
        if (child !== undefined && child !== null) {
          const where = segments.slice(0, i + 1).join(".");
          throw new ConfigError(`--${override.path}: ${where} is ${JSON.stringify(child)}, not a section`);
        }
        child = emptyContainer(schema, segments.slice(0, i + 1));
        holder[key] = child;
      }
      node = child as Record<string, unknown> | unknown[];
    }
  }
  return root;
}
