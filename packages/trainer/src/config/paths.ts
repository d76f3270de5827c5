/**
 * What dotted paths a config schema has, read from the zod definitions themselves, so overrides and
 * "did you mean" hints can never drift from the schema.
 */
import type { z } from "zod";

/** The structural view of a schema node: a section with named fields, a map, a list, or a value. */
export type Node =
  | { kind: "section"; fields: Record<string, z.ZodType> }
  | { kind: "map"; keys: readonly string[] | null; value: z.ZodType }
  | { kind: "list"; items: readonly z.ZodType[] | null; element: z.ZodType | null }
  | { kind: "value" };

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  items?: readonly z.ZodType[];
  element?: z.ZodType;
  options?: readonly z.ZodType[];
  entries?: Record<string, string>;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

const WRAPPERS = new Set(["default", "prefault", "optional", "nullable", "readonly", "catch"]);

/** The node a schema describes, looking through defaults, optionals, pipes and unions with one section. */
export function nodeOf(schema: z.ZodType): Node {
  let def = defOf(schema);
  for (;;) {
    if (WRAPPERS.has(def.type) && def.innerType) def = defOf(def.innerType);
    else if (def.type === "pipe" && def.in) def = defOf(def.in);
    else break;
  }
  switch (def.type) {
    case "object":
      return { kind: "section", fields: def.shape ?? {} };
    case "record": {
      const keyDef = def.keyType ? defOf(def.keyType) : undefined;
      const keys = keyDef?.type === "enum" && keyDef.entries ? Object.values(keyDef.entries) : null;
      return { kind: "map", keys, value: def.valueType as z.ZodType };
    }
    case "tuple":
      return { kind: "list", items: def.items ?? [], element: null };
    case "array":
      return { kind: "list", items: null, element: def.element ?? null };
    case "union": {
      const sections = (def.options ?? []).filter((o) => nodeOf(o).kind === "section");
      return sections.length === 1 ? nodeOf(sections[0] as z.ZodType) : { kind: "value" };
    }
    default:
      return { kind: "value" };
  }
}

/** The schema of the field at `path`, or null where the schema has none. */
export function schemaAt(schema: z.ZodType, path: readonly (string | number)[]): z.ZodType | null {
  let current = schema;
  for (const segment of path) {
    const node = nodeOf(current);
    let next: z.ZodType | undefined;
    if (node.kind === "section") next = node.fields[String(segment)];
    else if (node.kind === "map") next = node.value;
    else if (node.kind === "list")
      next = node.items ? node.items[Number(segment)] : (node.element ?? undefined);
    if (next === undefined) return null;
    current = next;
  }
  return current;
}

export function nodeAt(schema: z.ZodType, path: readonly (string | number)[]): Node | null {
  const field = schemaAt(schema, path);
  return field === null ? null : nodeOf(field);
}

/** The allowed keys at `path`: a section's field names or a map's fixed keys (empty if there are none). */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  const node = nodeAt(schema, path);
  if (node?.kind === "section") return Object.keys(node.fields);
  return node?.kind === "map" && node.keys ? [...node.keys] : [];
}

/** Every dotted path of a section or map entry, sections included (`loss`, `loss.npo`, `loss.npo.beta`, …). */
export function fieldPaths(schema: z.ZodType, prefix = ""): string[] {
  const node = nodeOf(schema);
  const out: string[] = [];
  if (node.kind === "section") {
    for (const [key, child] of Object.entries(node.fields)) {
      const path = prefix ? `${prefix}.${key}` : key;
      out.push(path, ...fieldPaths(child, path));
    }
  } else if (node.kind === "map" && node.keys) {
    for (const key of node.keys) out.push(`${prefix}.${key}`, ...fieldPaths(node.value, `${prefix}.${key}`));
  }
  return out;
}
