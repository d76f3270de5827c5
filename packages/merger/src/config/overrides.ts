/**
 * Command-line overrides of config fields, `--<dotted.path>=<value>`, as a W&B sweep agent passes them
 * (`--models.1.parameters.density=0.6`). Values are read as YAML scalars or flow collections (0.6, true,
 * bfloat16, [0, 0.5, 1]). Overrides are applied to the parsed YAML before validation, so a bad path or
 * value gets the same error as the same mistake in the file.
 */
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./schema.js";

export interface Override {
  path: string;
  value: string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

export function parseOverrideValue(text: string, path: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ConfigError(`--${path}=${text}: not a valid value (${(err as Error).message.split("\n")[0]})`);
  }
}

/** Apply overrides in order to a copy of the YAML document. */
export function applyOverrides(doc: unknown, overrides: readonly Override[]): unknown {
  const root = structuredClone(doc ?? {}) as unknown;
  for (const { path, value } of overrides) {
    const where = `--${path}=${value}`;
    const segments = path.split(".");
    if (segments.some((s) => s === "")) throw new ConfigError(`${where}: empty path segment`);
    let node: unknown = root;
    for (let i = 0; i < segments.length; i++) {
      const key = segments[i]!;
      const last = i === segments.length - 1;
      const prefix = segments.slice(0, i).join(".") || "(top level)";
      if (Array.isArray(node)) {
        if (!/^\d+$/.test(key))
          throw new ConfigError(`${where}: ${prefix} is a list; "${key}" is not an index`);
        const index = Number(key);
        if (index >= node.length) {
          throw new ConfigError(
            `${where}: ${prefix} has ${node.length} entries (indices 0–${node.length - 1})`,
          );
        }
        if (last) node[index] = parseOverrideValue(value, path);
        else {
          if (typeof node[index] === "string" && segments[i + 1] !== undefined)
            node[index] = { model: node[index] };
          node = node[index];
        }
      } else if (isObject(node)) {
        if (last) node[key] = parseOverrideValue(value, path);
        else {
          if (node[key] === undefined || node[key] === null)
            node[key] = /^\d+$/.test(segments[i + 1]!) ? [] : {};
          node = node[key];
        }
      } else {
        throw new ConfigError(`${where}: ${prefix} is a value, not a mapping or list`);
      }
    }
  }
  return root;
}
