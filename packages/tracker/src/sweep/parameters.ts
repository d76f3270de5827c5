/**
 * The search space: a sweep's (possibly nested) `parameters` flattened to dotted names, and what every
 * W&B distribution means. Each distribution is defined by its quantile function `ppf(u)` for u ∈ [0, 1]
 * (random search draws u uniformly, exactly as W&B does) and by `position(value)`, the inverse map back
 * into [0, 1] that Bayesian search models in. Semantics follow `wandb/sweeps:src/sweeps/params.py`.
 */
import { FormatError } from "@lethe/core";
import type { DistributionParameter, Parameter } from "./config.js";
import { betaCdf, betaPpf, normalCdf, normalPpf } from "./special.js";

export interface SearchParameter {
  /** Dotted name, e.g. `models.1.parameters.density`; also the `--name=value` flag the trial gets. */
  name: string;
  spec: DistributionParameter;
}

/** Flattens nested `parameters:` groups into dotted names, sorted by key at each level like W&B does. */
export function flattenParameters(parameters: Record<string, Parameter>, prefix = ""): SearchParameter[] {
  const out: SearchParameter[] = [];
  for (const key of Object.keys(parameters).sort()) {
    const spec = parameters[key]!;
    if ("parameters" in spec) out.push(...flattenParameters(spec.parameters, `${prefix}${key}.`));
    else out.push({ name: `${prefix}${key}`, spec });
  }
  return out;
}

/** Constants are fixed; everything else is a dimension of the search. */
export function isSearchable(spec: DistributionParameter): boolean {
  return spec.distribution !== "constant";
}

/** Round half to even, like numpy's `round`, then drop binary noise (3·0.1 → 0.3, not 0.30000000000000004). */
function quantize(x: number, q: number): number {
  const k = x / q;
  let r = Math.round(k);
  if (Math.abs(k - Math.trunc(k)) === 0.5) r = 2 * Math.round(k / 2);
  return tidy(r * q);
}

function tidy(x: number): number {
  return Number(x.toPrecision(12));
}

function clamp01(u: number): number {
  return Math.min(1, Math.max(0, u));
}

function indexOfValue(values: readonly unknown[], value: unknown): number {
  const key = JSON.stringify(value);
  return values.findIndex((v) => JSON.stringify(v) === key);
}

/** The value at quantile u ∈ [0, 1] of the parameter's distribution. */
export function ppf(spec: DistributionParameter, u: number): unknown {
  const x = clamp01(u);
  switch (spec.distribution) {
    case "constant":
      return spec.value;
    case "categorical":
      return spec.values[Math.min(spec.values.length - 1, Math.floor(x * spec.values.length))];
    case "categorical_w_probabilities": {
      let cumulative = 0;
      for (let i = 0; i < spec.values.length; i++) {
        cumulative += spec.probabilities[i]!;
        if (x < cumulative) return spec.values[i];
      }
      return spec.values[spec.values.length - 1];
    }
    case "int_uniform": {
      const n = spec.max - spec.min + 1;
      return spec.min + Math.min(n - 1, Math.floor(x * n));
    }
    case "uniform":
      return spec.min + x * (spec.max - spec.min);
    case "q_uniform":
      return quantize(spec.min + x * (spec.max - spec.min), spec.q);
    // The plain `log_uniform` family takes min/max as natural-log exponents; `_values` takes the values.
    case "log_uniform":
      return Math.exp(spec.min + x * (spec.max - spec.min));
    case "log_uniform_values":
      return logUniformValues(spec.min, spec.max, x);
    case "q_log_uniform":
      return quantize(Math.exp(spec.min + x * (spec.max - spec.min)), spec.q);
    case "q_log_uniform_values":
      return quantize(logUniformValues(spec.min, spec.max, x), spec.q);
    // X such that ln(1/X) is uniform on [min, max]: X ∈ [e^−max, e^−min], larger u → larger X.
    case "inv_log_uniform":
      return Math.exp(-(spec.min + (1 - x) * (spec.max - spec.min)));
    case "inv_log_uniform_values":
      return logUniformValues(spec.min, spec.max, x);
    case "normal":
      return spec.mu + spec.sigma * normalPpf(x);
    case "q_normal":
      return quantize(spec.mu + spec.sigma * normalPpf(x), spec.q);
    case "log_normal":
      return Math.exp(spec.mu + spec.sigma * normalPpf(x));
    case "q_log_normal":
      return quantize(Math.exp(spec.mu + spec.sigma * normalPpf(x)), spec.q);
    case "beta":
      return betaPpf(x, spec.a, spec.b);
    case "q_beta":
      return quantize(betaPpf(x, spec.a, spec.b), spec.q);
  }
}

function logUniformValues(min: number, max: number, x: number): number {
  return Math.exp(Math.log(min) + x * (Math.log(max) - Math.log(min)));
}

/**
 * Where a value sits in [0, 1]: the CDF for continuous distributions, the centre of its probability cell
 * for discrete ones (so that `ppf(position(v)) === v`). Bayesian search fits its model in these coordinates.
 */
export function position(spec: DistributionParameter, value: unknown): number {
  const v = typeof value === "number" ? value : Number.NaN;
  const lin = (x: number, lo: number, hi: number) => clamp01((x - lo) / (hi - lo));
  switch (spec.distribution) {
    case "constant":
      return 0.5;
    case "categorical": {
      const i = indexOfValue(spec.values, value);
      return i < 0 ? 0.5 : (i + 0.5) / spec.values.length;
    }
    case "categorical_w_probabilities": {
      const i = indexOfValue(spec.values, value);
      if (i < 0) return 0.5;
      const before = spec.probabilities.slice(0, i).reduce((a, b) => a + b, 0);
      return before + spec.probabilities[i]! / 2;
    }
    case "int_uniform":
      return lin(v + 0.5, spec.min, spec.max + 1);
    case "uniform":
    case "q_uniform":
      return lin(v, spec.min, spec.max);
    case "log_uniform":
    case "q_log_uniform":
      return lin(Math.log(Math.max(v, Number.MIN_VALUE)), spec.min, spec.max);
    case "log_uniform_values":
    case "q_log_uniform_values":
    case "inv_log_uniform_values":
      return lin(Math.log(Math.max(v, Number.MIN_VALUE)), Math.log(spec.min), Math.log(spec.max));
    case "inv_log_uniform":
      return 1 - lin(-Math.log(Math.max(v, Number.MIN_VALUE)), spec.min, spec.max);
    case "normal":
    case "q_normal":
      return spec.sigma === 0 ? 0.5 : normalCdf((v - spec.mu) / spec.sigma);
    case "log_normal":
    case "q_log_normal":
      return spec.sigma === 0 || v <= 0 ? 0.5 : normalCdf((Math.log(v) - spec.mu) / spec.sigma);
    case "beta":
    case "q_beta":
      return betaCdf(v, spec.a, spec.b);
  }
}

/**
 * The values a grid search walks for one parameter. Like W&B, only categorical, constant, int_uniform
 * (every integer in [min, max]) and q_uniform (numpy `arange(min, max, q)`: **max is excluded**) are allowed.
 */
export function gridValues(param: SearchParameter): unknown[] {
  const { spec, name } = param;
  switch (spec.distribution) {
    case "constant":
      return [spec.value];
    case "categorical":
      return [...spec.values];
    case "int_uniform":
      return Array.from({ length: spec.max - spec.min + 1 }, (_, i) => spec.min + i);
    case "q_uniform": {
      const count = Math.ceil((spec.max - spec.min) / spec.q);
      return Array.from({ length: count }, (_, i) => tidy(spec.min + i * spec.q));
    }
    default:
      throw new FormatError(
        `parameters.${name}: grid search cannot enumerate a ${spec.distribution} distribution; ` +
          "grid search needs categorical, constant, int_uniform or q_uniform parameters",
      );
  }
}
