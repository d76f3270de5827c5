/**
 * The mergekit YAML config (mergekit `config.py` MergeConfiguration), validated strictly: every error
 * names the dotted path of the offending field (`models.1.parameters.density`), and an unknown key is an
 * error that names it (with the nearest known key), where mergekit would silently ignore a typo.
 */
import { type FloatDType, FormatError, parseFloatDType } from "@lethe/core";
import { GLOBAL_PARAMETER_NAMES, KNOWN_PARAMETERS } from "../methods/types.js";

export type ParameterScalar = number | boolean | string;

/** A single value, a gradient across layers, a stepwise list, or filtered values (first match wins). */
export type ParameterSetting = ParameterScalar | ParameterScalar[] | ConditionalParameter[];

export interface ConditionalParameter {
  filter: string | null;
  value: ParameterScalar | ParameterScalar[];
}

export interface ModelReference {
  /** Path, file:// or s3:// URI of the model (or of a LoRA adapter). */
  model: string;
  /** `model+lora`: a PEFT adapter folded into `model` before merging. */
  lora: string | null;
}

export interface InputModel {
  model: ModelReference;
  parameters: Record<string, ParameterSetting>;
}

export interface MergeConfig {
  models: InputModel[];
  baseModel: ModelReference | null;
  mergeMethod: string;
  parameters: Record<string, ParameterSetting>;
  /** Working dtype (inputs are cast to it on load); null: each tensor's base dtype. */
  dtype: FloatDType | null;
  outDtype: FloatDType | null;
  /** Only "base" is supported: tokenizer files come from the base, embeddings are cropped to it. */
  tokenizerSource: "base" | null;
}

/** The keys a mergekit YAML may have at its top level. */
export const TOP_LEVEL_KEYS: readonly string[] = [
  "models",
  "base_model",
  "merge_method",
  "parameters",
  "dtype",
  "out_dtype",
  "tokenizer_source",
  "tokenizer",
  "chat_template",
  "slices",
  "modules",
];

export class ConfigError extends FormatError {
  override readonly name = "ConfigError";
}

function fail(source: string, path: string, message: string): never {
  throw new ConfigError(`${source}: ${path ? `${path}: ` : ""}${message}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Edit distance for "did you mean" hints, counting a swap of two neighbouring letters as one edit (optimal
 * string alignment): `modles` is 1 from `models`, not 2, so it does not lose to `modules`.
 */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Same letters in another order: at equal distance, the likelier typo. */
function sameLetters(a: string, b: string): boolean {
  return [...a].sort().join() === [...b].sort().join();
}

export function unknownKeyMessage(key: string, known: readonly string[], what = "key"): string {
  const best = [...known].sort(
    (x, y) =>
      distance(key, x) - distance(key, y) || Number(sameLetters(key, y)) - Number(sameLetters(key, x)),
  )[0];
  const hint =
    best !== undefined && distance(key, best) <= Math.max(2, Math.floor(key.length / 3))
      ? `; did you mean "${best}"?`
      : "";
  return `unknown ${what} "${key}" (known: ${known.join(", ")})${hint}`;
}

function checkKeys(
  value: Record<string, unknown>,
  known: readonly string[],
  source: string,
  path: string,
): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(source, path ? `${path}.${key}` : key, unknownKeyMessage(key, known));
  }
}

export function parseModelReference(value: unknown, source: string, path: string): ModelReference {
  if (typeof value === "string") {
    const parts = value.split("+");
    if (value.trim() === "" || parts.some((p) => p.trim() === ""))
      fail(source, path, `empty model reference "${value}"`);
    if (parts.length > 2)
      fail(source, path, `"${value}": expected MODEL or MODEL+LORA, found ${parts.length - 1} "+"`);
    return { model: parts[0]!.trim(), lora: parts[1]?.trim() ?? null };
  }
  if (isObject(value)) {
    checkKeys(value, ["model", "lora", "override_architecture"], source, path);
    const model = value["model"];
    const lora = value["lora"];
    if (typeof model !== "string" || model === "")
      fail(source, `${path}.model`, "must be a non-empty string");
    if (lora !== undefined && lora !== null && typeof lora !== "string")
      fail(source, `${path}.lora`, "must be a string");
    return { model, lora: (lora as string | null | undefined) ?? null };
  }
  return fail(source, path, "must be a model path/URI (or MODEL+LORA)");
}

function isScalar(x: unknown): x is ParameterScalar {
  return typeof x === "number" || typeof x === "boolean" || typeof x === "string";
}

/**
 * What each parameter's values must be, checked when the config is read (not when the first tensor that
 * uses them is planned): numbers, booleans (mergekit also takes 0/1), and density in (0, 1].
 */
const PARAMETER_TYPES: Record<string, "number" | "fraction" | "boolean"> = {
  weight: "number",
  density: "fraction",
  gamma: "number",
  epsilon: "number",
  lambda: "number",
  normalize: "boolean",
  rescale: "boolean",
  int8_mask: "boolean",
};

function checkScalar(name: string, value: ParameterScalar, source: string, path: string): void {
  const type = PARAMETER_TYPES[name];
  if (type === undefined) return;
  if (type === "boolean") {
    if (typeof value !== "boolean" && value !== 0 && value !== 1)
      fail(source, path, `must be true or false, got ${JSON.stringify(value)}`);
    return;
  }
  if (typeof value !== "number") fail(source, path, `must be a number, got ${JSON.stringify(value)}`);
  if (type === "fraction" && !(value > 0 && value <= 1))
    fail(source, path, `must be in (0, 1] (the fraction of each task vector kept), got ${value}`);
}

function checkSetting(name: string, setting: ParameterSetting, source: string, path: string): void {
  const entries = Array.isArray(setting) ? setting : null;
  if (entries === null) {
    checkScalar(name, setting as ParameterScalar, source, path);
    return;
  }
  entries.forEach((entry, i) => {
    if (typeof entry !== "object") {
      checkScalar(name, entry, source, `${path}.${i}`);
      return;
    }
    const where = `${path}.${i}.value`;
    const values = Array.isArray(entry.value) ? entry.value : [entry.value];
    values.forEach((v, k) => {
      checkScalar(name, v, source, Array.isArray(entry.value) ? `${where}.${k}` : where);
    });
  });
}

function parseSetting(value: unknown, source: string, path: string): ParameterSetting {
  if (typeof value === "number" && !Number.isFinite(value)) fail(source, path, `must be a finite number`);
  if (isScalar(value)) return value;
  if (isObject(value)) return [parseCondition(value, source, path)];
  if (Array.isArray(value)) {
    if (value.length === 0) fail(source, path, "an empty list has no value");
    if (value.every(isScalar)) return value;
    if (value.every(isObject))
      return value.map((c, i) => parseCondition(c as Record<string, unknown>, source, `${path}.${i}`));
    return fail(source, path, "a list must hold only values (a gradient) or only {filter, value} entries");
  }
  return fail(source, path, "must be a number, a boolean, a list of numbers or a list of {filter, value}");
}

function parseCondition(value: Record<string, unknown>, source: string, path: string): ConditionalParameter {
  checkKeys(value, ["filter", "value"], source, path);
  const filter = value["filter"];
  if (filter !== undefined && filter !== null && typeof filter !== "string")
    fail(source, `${path}.filter`, "must be a string");
  if (!("value" in value)) fail(source, `${path}.value`, "missing");
  const inner = value["value"];
  if (!(isScalar(inner) || (Array.isArray(inner) && inner.length > 0 && inner.every(isScalar)))) {
    fail(source, `${path}.value`, "must be a value or a list of values (a gradient)");
  }
  return {
    filter: (filter as string | null | undefined) ?? null,
    value: inner as ParameterScalar | ParameterScalar[],
  };
}

function parseParameters(
  value: unknown,
  source: string,
  path: string,
  perModel: boolean,
): Record<string, ParameterSetting> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) fail(source, path, "must be a mapping of parameter names to values");
  const out: Record<string, ParameterSetting> = {};
  for (const [name, setting] of Object.entries(value)) {
    const where = `${path}.${name}`;
    if (!(KNOWN_PARAMETERS as readonly string[]).includes(name))
      fail(source, where, unknownKeyMessage(name, KNOWN_PARAMETERS, "parameter"));
    if (perModel && GLOBAL_PARAMETER_NAMES.has(name)) {
      fail(source, where, `"${name}" applies to the whole merge: set it under the top-level parameters`);
    }
    out[name] = parseSetting(setting, source, where);
    checkSetting(name, out[name], source, where);
  }
  return out;
}

function parseDType(value: unknown, source: string, path: string): FloatDType | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") fail(source, path, "must be a dtype name such as bfloat16");
  try {
    return parseFloatDType(value.replace(/^torch\./, ""));
  } catch (err) {
    return fail(source, path, (err as Error).message);
  }
}

/** Validate a parsed YAML document. `source` names the file in messages. */
export function parseMergeConfig(doc: unknown, source: string): MergeConfig {
  if (!isObject(doc)) fail(source, "", "a merge config must be a YAML mapping");
  checkKeys(doc, TOP_LEVEL_KEYS, source, "");
  if (doc["slices"] !== undefined || doc["modules"] !== undefined) {
    const key = doc["slices"] !== undefined ? "slices" : "modules";
    fail(
      source,
      key,
      "layer-range configs (slices, modules) are not supported by lethe-merge: list whole models under models",
    );
  }
  if (doc["chat_template"] !== undefined && doc["chat_template"] !== null) {
    fail(
      source,
      "chat_template",
      "not supported: the tokenizer files (and their chat template) are copied from the base model",
    );
  }
  const method = doc["merge_method"];
  if (typeof method !== "string" || method === "")
    fail(source, "merge_method", "required (for example ties)");

  const modelsValue = doc["models"];
  if (!Array.isArray(modelsValue) || modelsValue.length === 0)
    fail(source, "models", "required: a list of models to merge");
  const models = modelsValue.map((entry, i): InputModel => {
    const path = `models.${i}`;
    if (typeof entry === "string") return { model: parseModelReference(entry, source, path), parameters: {} };
    if (!isObject(entry)) fail(source, path, "must be a mapping with a model key");
    checkKeys(entry, ["model", "parameters"], source, path);
    if (entry["model"] === undefined) fail(source, `${path}.model`, "missing");
    return {
      model: parseModelReference(entry["model"], source, `${path}.model`),
      parameters: parseParameters(entry["parameters"], source, `${path}.parameters`, true),
    };
  });

  const base = doc["base_model"];
  const baseModel =
    base === undefined || base === null ? null : parseModelReference(base, source, "base_model");

  let tokenizerSource: "base" | null = null;
  const tokenizerSourceValue = doc["tokenizer_source"];
  const tokenizer = doc["tokenizer"];
  if (tokenizerSourceValue !== undefined && tokenizer !== undefined) {
    fail(source, "tokenizer", "set either tokenizer_source or tokenizer, not both");
  }
  if (tokenizerSourceValue !== undefined && tokenizerSourceValue !== null) {
    if (tokenizerSourceValue !== "base") {
      fail(
        source,
        "tokenizer_source",
        `"${String(tokenizerSourceValue)}" is not supported: only "base" (the base model's tokenizer, embeddings cropped or padded to it)`,
      );
    }
    tokenizerSource = "base";
  }
  if (tokenizer !== undefined && tokenizer !== null) {
    if (!isObject(tokenizer)) fail(source, "tokenizer", "must be a mapping");
    checkKeys(tokenizer, ["source", "tokens", "pad_to_multiple_of"], source, "tokenizer");
    if (tokenizer["source"] !== "base") fail(source, "tokenizer.source", 'only "base" is supported');
    if (tokenizer["tokens"] !== undefined || tokenizer["pad_to_multiple_of"] !== undefined) {
      const key = tokenizer["tokens"] !== undefined ? "tokens" : "pad_to_multiple_of";
      fail(source, `tokenizer.${key}`, "not supported: Lethe does not build tokenizers");
    }
    tokenizerSource = "base";
  }

  return {
    models,
    baseModel,
    mergeMethod: method,
    parameters: parseParameters(doc["parameters"], source, "parameters", false),
    dtype: parseDType(doc["dtype"], source, "dtype"),
    outDtype: parseDType(doc["out_dtype"], source, "out_dtype"),
    tokenizerSource,
  };
}

export function referenceString(ref: ModelReference): string {
  return ref.lora ? `${ref.model}+${ref.lora}` : ref.model;
}

export function sameReference(a: ModelReference | null, b: ModelReference | null): boolean {
  return a !== null && b !== null && a.model === b.model && a.lora === b.lora;
}
