/** Every merge method by its mergekit name. */
import { breadcrumbs, breadcrumbsTies } from "./breadcrumbs.js";
import { dareLinear, dareTies } from "./dare.js";
import { della, dellaLinear } from "./della.js";
import { linear } from "./linear.js";
import { taskArithmetic } from "./task-arithmetic.js";
import { ties } from "./ties.js";
import type { MergeMethod } from "./types.js";

export const MERGE_METHODS: ReadonlyMap<string, MergeMethod> = new Map(
  [linear, taskArithmetic, ties, dareTies, dareLinear, breadcrumbs, breadcrumbsTies, della, dellaLinear].map(
    (m) => [m.name, m],
  ),
);

export function mergeMethod(name: string): MergeMethod | undefined {
  return MERGE_METHODS.get(name);
}
