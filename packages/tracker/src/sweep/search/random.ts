/** Random search: each parameter independently at a uniform quantile u, value = ppf(u) (as W&B does). */
import { ppf, type SearchParameter } from "../parameters.js";
import type { Rng } from "../rng.js";
import type { SearchStrategy } from "./strategy.js";

export function sampleParameters(parameters: readonly SearchParameter[], rng: Rng): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const p of parameters) params[p.name] = ppf(p.spec, rng.next());
  return params;
}

export function createRandomSearch(parameters: readonly SearchParameter[], rng: Rng): SearchStrategy {
  return { size: undefined, next: () => sampleParameters(parameters, rng) };
}
