/**
 * Grid search: the cartesian product of every parameter's grid values, parameters in W&B's sorted order
 * with the last one varying fastest. Trial i is decoded from i in mixed radix, so nothing is materialised.
 */
import { gridValues, type SearchParameter } from "../parameters.js";
import type { SearchStrategy } from "./strategy.js";

export function createGridSearch(parameters: readonly SearchParameter[]): SearchStrategy {
  const axes = parameters.map((p) => ({ name: p.name, values: gridValues(p) }));
  const size = axes.reduce((n, axis) => n * axis.values.length, 1);
  let issued = 0;
  return {
    size,
    next() {
      if (issued >= size) return null;
      let rest = issued++;
      const params: Record<string, unknown> = {};
      for (let a = axes.length - 1; a >= 0; a--) {
        const axis = axes[a]!;
        params[axis.name] = axis.values[rest % axis.values.length];
        rest = Math.floor(rest / axis.values.length);
      }
      return orderLike(params, axes);
    },
  };
}

function orderLike(
  params: Record<string, unknown>,
  axes: readonly { name: string }[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name } of axes) out[name] = params[name];
  return out;
}
