/**
 * Parameter values for one tensor (mergekit `ConfigReader.parameter` and `evaluate_setting`):
 *
 * - precedence, first hit wins: the model's own `parameters`, then the top-level `parameters`, then the
 *   method's default; a filter list that matches nothing falls through to the next level;
 * - a list of numbers is a gradient over layers, interpolated at t = layer / (L − 1) (t = 1 when L = 1);
 *   tensors outside the layers (embeddings, final norm, lm_head) use t = 0, i.e. the first entry;
 * - a list of other values is a stepwise pick at ⌊t·(len − 1)⌋;
 * - `{filter, value}` entries apply when the filter is absent, "*", or a substring of the tensor name.
 */
import type { ParameterDef } from "../methods/types.js";
import { ConfigError, type ParameterScalar, type ParameterSetting } from "./schema.js";

export function evaluateSetting(
  setting: ParameterSetting,
  tensor: string,
  t: number,
): ParameterScalar | undefined {
  if (!Array.isArray(setting)) return setting;
  if (setting.length > 0 && typeof setting[0] === "object") {
    for (const cond of setting as { filter: string | null; value: ParameterScalar | ParameterScalar[] }[]) {
      if (cond.filter === null || cond.filter === "*" || tensor.includes(cond.filter)) {
        return evaluateSetting(cond.value, tensor, t);
      }
    }
    return undefined;
  }
  const values = setting as ParameterScalar[];
  if (values.every((v) => typeof v === "number")) {
    const numbers = values as number[];
    const scaled = t * (numbers.length - 1);
    const i0 = Math.trunc(scaled);
    const i1 = Math.min(numbers.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * numbers[i0]! + frac * numbers[i1]!;
  }
  return values[Math.trunc(t * (values.length - 1))];
}

export interface ParameterLookup {
  tensor: string;
  t: number;
  /** The model's `parameters` (absent for global parameters). */
  model?: { label: string; path: string; parameters: Record<string, ParameterSetting> };
  global: Record<string, ParameterSetting>;
}

/** Where a parameter's value came from, for the dry-run plan. */
export type ParameterOrigin = "model" | "global" | "default";

export interface ResolvedParameter {
  value: number | boolean;
  origin: ParameterOrigin;
}

export function resolveParameter(
  def: ParameterDef,
  lookup: ParameterLookup,
  required: boolean,
): ResolvedParameter | undefined {
  const levels: [ParameterOrigin, Record<string, ParameterSetting> | undefined, string][] = [
    ["model", lookup.model?.parameters, `${lookup.model?.path}.parameters.${def.name}`],
    ["global", lookup.global, `parameters.${def.name}`],
  ];
  for (const [origin, parameters, path] of levels) {
    const setting = parameters?.[def.name];
    if (setting === undefined) continue;
    const value = evaluateSetting(setting, lookup.tensor, lookup.t);
    if (value === undefined) continue;
    return { value: coerce(def, value, path, lookup.tensor), origin };
  }
  if (def.default !== undefined) return { value: def.default, origin: "default" };
  if (required) {
    const where = [lookup.model?.label, lookup.tensor].filter(Boolean).join(".");
    throw new ConfigError(`Missing required parameter ${def.name} for ${where}`);
  }
  return undefined;
}

function coerce(def: ParameterDef, value: ParameterScalar, path: string, tensor: string): number | boolean {
  if (def.type === "number") {
    if (typeof value !== "number") {
      throw new ConfigError(
        `${path}: ${def.name} must be a number, got ${JSON.stringify(value)} (for ${tensor})`,
      );
    }
    return value;
  }
  // mergekit only tests truthiness; numbers 0/1 are accepted as booleans.
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0;
  throw new ConfigError(
    `${path}: ${def.name} must be true or false, got ${JSON.stringify(value)} (for ${tensor})`,
  );
}

/** Layer index of a tensor name (`model.layers.12.mlp...` → 12), or null outside the layers. */
export function layerIndexOf(name: string): number | null {
  const match = /(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)\./.exec(name);
  return match ? Number(match[1]) : null;
}

/** t for a gradient: layer / (L − 1), 1 when there is one layer, 0 outside the layers. */
export function gradientT(layer: number | null, layers: number): number {
  if (layer === null) return 0;
  return layers > 1 ? layer / (layers - 1) : 1;
}

/** Number of layers from config.json (num_hidden_layers, n_layer, num_layers), else from tensor names. */
export function layerCount(config: Record<string, unknown> | null, names: Iterable<string>): number {
  for (const key of ["num_hidden_layers", "n_layer", "num_layers"]) {
    const v = config?.[key];
    if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  }
  let max = -1;
  for (const name of names) max = Math.max(max, layerIndexOf(name) ?? -1);
  return max + 1;
}
