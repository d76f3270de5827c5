/**
 * Sweep configuration in W&B's format (`wandb/sweeps:src/sweeps/config/schema.json`), as a zod schema.
 * One YAML file runs here (`lethe-track sweep`) and on W&B (`wandb sweep`).
 *
 * Like the W&B client, a parameter without `distribution` gets one filled in before validation:
 * `values` → categorical (or categorical_w_probabilities with `probabilities`), `value` → constant,
 * `min`/`max` → int_uniform when both are YAML integers, else uniform, `parameters` → a nested group.
 * Integer-ness is read from the YAML source (`1` vs `1.0`), as Python's YAML loader does.
 */
import { readFile } from "node:fs/promises";
import { FormatError } from "@lethe/core";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { checkCommand, DEFAULT_COMMAND } from "./command.js";
import { flattenParameters, gridValues } from "./parameters.js";

const finite = () => z.number().refine(Number.isFinite, "must be a finite number");
const minMax = { min: finite(), max: finite() };
const positiveMinMax = { min: finite().gt(0, "must be > 0 (it is a value, not an exponent)"), max: finite() };
const quantum = { q: finite().gt(0).default(1) };
const normalShape = { mu: finite().default(0), sigma: finite().min(0).default(1) };
const betaShape = { a: finite().min(0).default(1), b: finite().min(0).default(1) };

const DistributionParameterSchema = z.discriminatedUnion("distribution", [
  z.strictObject({ distribution: z.literal("constant"), value: z.unknown() }),
  z.strictObject({ distribution: z.literal("categorical"), values: z.array(z.unknown()).min(1) }),
  z.strictObject({
    distribution: z.literal("categorical_w_probabilities"),
    values: z.array(z.unknown()).min(1),
    probabilities: z.array(finite().min(0)).min(1),
  }),
  z.strictObject({ distribution: z.literal("int_uniform"), min: z.int(), max: z.int() }),
  z.strictObject({ distribution: z.literal("uniform"), ...minMax }),
  z.strictObject({ distribution: z.literal("q_uniform"), ...minMax, ...quantum }),
  z.strictObject({ distribution: z.literal("log_uniform"), ...minMax }),
  z.strictObject({ distribution: z.literal("log_uniform_values"), ...positiveMinMax }),
  z.strictObject({ distribution: z.literal("q_log_uniform"), ...minMax, ...quantum }),
  z.strictObject({ distribution: z.literal("q_log_uniform_values"), ...positiveMinMax, ...quantum }),
  z.strictObject({ distribution: z.literal("inv_log_uniform"), ...minMax }),
  z.strictObject({ distribution: z.literal("inv_log_uniform_values"), ...positiveMinMax }),
  z.strictObject({ distribution: z.literal("normal"), ...normalShape }),
  z.strictObject({ distribution: z.literal("q_normal"), ...normalShape, ...quantum }),
  z.strictObject({ distribution: z.literal("log_normal"), ...normalShape }),
  z.strictObject({ distribution: z.literal("q_log_normal"), ...normalShape, ...quantum }),
  z.strictObject({ distribution: z.literal("beta"), ...betaShape }),
  z.strictObject({ distribution: z.literal("q_beta"), ...betaShape, ...quantum }),
]);

export type DistributionParameter = z.output<typeof DistributionParameterSchema>;
export type Distribution = DistributionParameter["distribution"];
export interface NestedParameter {
  parameters: Record<string, Parameter>;
}
export type Parameter = DistributionParameter | NestedParameter;

const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const ParametersSchema: z.ZodType<Record<string, Parameter>> = z.lazy(() =>
  z
    .record(z.string().regex(PARAMETER_NAME, "must match ^[A-Za-z_][A-Za-z0-9_.-]*$"), ParameterSchema)
    .refine((p) => Object.keys(p).length > 0, "needs at least one parameter"),
);

const NestedParameterSchema = z.strictObject({ parameters: ParametersSchema });

const ParameterSchema: z.ZodType<Parameter> = z.lazy(() =>
  z.union([NestedParameterSchema, DistributionParameterSchema]),
);

const MetricSchema = z.strictObject({
  name: z.string().min(1),
  goal: z.enum(["minimize", "maximize"]).default("minimize"),
  target: finite().optional(),
  impute: z.enum(["latest", "best", "worst"]).default("worst"),
  impute_while_running: z.enum(["latest", "best", "worst", "false"]).default("false"),
});
export type SweepMetric = z.output<typeof MetricSchema>;

const HyperbandSchema = z
  .strictObject({
    type: z.literal("hyperband"),
    max_iter: z.int().optional(),
    min_iter: z.int().min(1).optional(),
    s: finite().optional(),
    eta: finite().gt(1).default(3),
    strict: z.boolean().default(true),
  })
  .refine(
    (h) => (h.max_iter !== undefined && h.s !== undefined) || h.min_iter !== undefined,
    "hyperband needs either min_iter, or max_iter together with s",
  );
export type HyperbandConfig = z.output<typeof HyperbandSchema>;

export const SweepConfigSchema = z.strictObject({
  method: z.enum(["grid", "random", "bayes", "custom"]),
  parameters: ParametersSchema,
  metric: MetricSchema.optional(),
  metrics: z.array(MetricSchema).min(2).optional(),
  early_terminate: HyperbandSchema.optional(),
  run_cap: z.int().gt(0).optional(),
  program: z.string().optional(),
  command: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  project: z.string().optional(),
  entity: z.string().optional(),
  controller: z.looseObject({ type: z.enum(["local", "cloud"]).default("cloud") }).optional(),
  scheduler: z.looseObject({ engine: z.string() }).optional(),
  apiVersion: z.string().optional(),
  kind: z.literal("sweep").optional(),
  job: z.string().optional(),
  image_uri: z.string().optional(),
});
export type SweepConfig = z.output<typeof SweepConfigSchema>;

/** Reads and validates a sweep YAML (or JSON) file. Errors name the file and the offending field. */
export async function loadSweepConfig(path: string): Promise<SweepConfig> {
  const text = await readFile(path, "utf8");
  return parseSweepConfigYaml(text, path);
}

export function parseSweepConfigYaml(text: string, source = "sweep config"): SweepConfig {
  let raw: unknown;
  try {
    // Integers come back as bigint so that `1` and `1.0` stay distinguishable (int_uniform vs uniform).
    raw = parseYaml(text, { intAsBigInt: true });
  } catch (err) {
    throw new FormatError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  return validateSweepConfig(raw, source, true);
}

/**
 * Validates a config object. `intsAreBigInt` says integers arrive as bigint (from our YAML parse); a plain
 * object (from JSON or code) treats every integral number as an integer.
 */
export function validateSweepConfig(
  raw: unknown,
  source = "sweep config",
  intsAreBigInt = false,
): SweepConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FormatError(`${source}: a sweep config must be a mapping`);
  }
  const filled = structuredClone(raw) as Record<string, unknown>;
  if (isRecord(filled.parameters)) fillDistributions(filled.parameters, intsAreBigInt);
  const plain = bigIntsToNumbers(filled, source, []);
  const result = SweepConfigSchema.safeParse(plain);
  if (!result.success) {
    throw new FormatError(`${source}: ${describeIssues(result.error.issues, plain)}`);
  }
  const config = result.data;
  checkSemantics(config, source);
  return config;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isIntegerLiteral(v: unknown, intsAreBigInt: boolean): boolean {
  if (typeof v === "bigint") return true;
  return !intsAreBigInt && typeof v === "number" && Number.isInteger(v);
}

/** The W&B client's rule for a parameter without `distribution` (see the module comment). */
function fillDistributions(parameters: Record<string, unknown>, intsAreBigInt: boolean): void {
  for (const spec of Object.values(parameters)) {
    if (!isRecord(spec) || "distribution" in spec) continue;
    if ("parameters" in spec) {
      if (isRecord(spec.parameters)) fillDistributions(spec.parameters, intsAreBigInt);
    } else if ("values" in spec) {
      spec.distribution = "probabilities" in spec ? "categorical_w_probabilities" : "categorical";
    } else if ("value" in spec) {
      spec.distribution = "constant";
    } else if ("min" in spec && "max" in spec) {
      const ints = isIntegerLiteral(spec.min, intsAreBigInt) && isIntegerLiteral(spec.max, intsAreBigInt);
      spec.distribution = ints ? "int_uniform" : "uniform";
    }
  }
}

function bigIntsToNumbers(v: unknown, source: string, path: (string | number)[]): unknown {
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new FormatError(`${source}: ${formatPath(path)}: integer ${v} is too large`);
    }
    return Number(v);
  }
  if (Array.isArray(v)) return v.map((x, i) => bigIntsToNumbers(x, source, [...path, i]));
  if (isRecord(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = bigIntsToNumbers(x, source, [...path, k]);
    return out;
  }
  return v;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(top level)" : path.map(String).join(".");
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/**
 * zod reports a failed parameter as "invalid union"; pick the branch the user meant (a nested group when
 * the spec has `parameters`, a distribution otherwise) and report that branch's own issues.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], root: unknown): string {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === "invalid_union" && issue.errors.length === 2) {
      const spec = valueAt(root, issue.path);
      const branch = isRecord(spec) && "parameters" in spec ? issue.errors[0] : issue.errors[1];
      if (branch && branch.length > 0) {
        const prefixed = branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as z.core.$ZodIssue);
        lines.push(describeIssues(prefixed, root));
        continue;
      }
    }
    let message = issue.message;
    let path = issue.path;
    if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator") {
      if (path.at(-1) === "distribution") path = path.slice(0, -1);
      const spec = valueAt(root, path);
      message =
        isRecord(spec) && "distribution" in spec
          ? `unknown distribution ${JSON.stringify(spec.distribution)}`
          : "give `value`, `values`, `min`/`max`, `distribution` or nested `parameters`";
    }
    if (issue.code === "invalid_key") message = "a parameter name must match ^[A-Za-z_][A-Za-z0-9_.-]*$";
    if (issue.code === "unrecognized_keys")
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    lines.push(`${formatPath(path)}: ${message}`);
  }
  return lines.join("; ");
}

/** Rules the JSON schema cannot express (W&B checks them in code), plus what the local controller lacks. */
function checkSemantics(config: SweepConfig, source: string): void {
  const fail = (msg: string): never => {
    throw new FormatError(`${source}: ${msg}`);
  };
  const walk = (params: Record<string, Parameter>, prefix: string): void => {
    for (const [name, spec] of Object.entries(params)) {
      const path = `parameters.${prefix}${name}`;
      if ("parameters" in spec) {
        walk(spec.parameters, `${prefix}${name}.parameters.`);
        continue;
      }
      if ("min" in spec && spec.min >= spec.max)
        fail(`${path}: min ${spec.min} is not less than max ${spec.max}`);
      if (spec.distribution === "categorical_w_probabilities") {
        if (spec.values.length !== spec.probabilities.length) {
          fail(`${path}: ${spec.values.length} values but ${spec.probabilities.length} probabilities`);
        }
        const sum = spec.probabilities.reduce((a, b) => a + b, 0);
        if (Math.abs(sum - 1) > 1e-8) fail(`${path}: probabilities sum to ${sum}, not 1`);
      }
    }
  };
  walk(config.parameters, "");
  if (config.method === "grid") {
    for (const param of flattenParameters(config.parameters)) {
      try {
        gridValues(param);
      } catch (err) {
        fail((err as Error).message);
      }
    }
  }
  if (config.method === "custom" || config.scheduler) {
    fail("method: custom (a custom scheduler) runs only on W&B; use grid, random or bayes locally");
  }
  if (config.metrics) fail("metrics: multi-objective sweeps need a custom scheduler; give a single `metric`");
  if (config.method === "bayes" && !config.metric) fail("metric: bayes search needs a metric to optimise");
  if (config.early_terminate && !config.metric) fail("metric: early_terminate (hyperband) needs a metric");
  if (config.program === undefined && config.command === undefined) {
    fail("give `program` or `command`: the sweep has nothing to run");
  }
  checkCommand(config.command ?? DEFAULT_COMMAND, config.program, source);
}
