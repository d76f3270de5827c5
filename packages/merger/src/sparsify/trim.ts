/**
 * What trimming and rescaling a model's task vector means for one tensor, decided from the method, the
 * semantics and the model's parameters before any data is read (so a dry run can show it).
 */
import type { Sparsification } from "../methods/types.js";
import type { Semantics } from "../semantics.js";
import { roundBf16, type WorkingDType } from "../working-dtype.js";
import { breadcrumbsCounts } from "./breadcrumbs.js";
import { checkDellaParameters } from "./della.js";
import { sparsifierWorkDType } from "./rescale.js";

export type TrimPlan =
  | { kind: "all" }
  | { kind: "none" }
  /** The top m by magnitude; `atLeast`: the paper's rule, everything ≥ the (m+1)-th largest. */
  | { kind: "top"; m: number; atLeast: boolean }
  /** Breadcrumbs: the top `keep` except the top `drop`. */
  | { kind: "band"; keep: number; drop: number }
  | { kind: "random"; p: number }
  | { kind: "della"; density: number; epsilon: number };

export type RescalePlan =
  | { kind: "none" }
  | { kind: "l1"; work: "BF16" | "F16" | "F32" }
  | { kind: "inverse-density"; density: number };

export interface TrimParameters {
  density: number;
  gamma?: number;
  epsilon?: number;
}

export function planTrim(
  sparsification: Sparsification | null,
  semantics: Semantics,
  working: WorkingDType,
  numel: number,
  p: TrimParameters,
  where: string,
): TrimPlan {
  if (sparsification === null || p.density >= 1 || numel === 0) return { kind: "all" };
  if (p.density < 0) throw new Error(`${where}: density ${p.density} is negative`);
  switch (sparsification) {
    case "magnitude": {
      const k = Math.floor(p.density * numel);
      if (semantics.trim === "at-least")
        return k + 1 >= numel ? { kind: "all" } : { kind: "top", m: k + 1, atLeast: true };
      if (k === 0) {
        if (semantics.zeroKeep === "error") {
          throw new Error(
            `${where}: density ${p.density} keeps 0 of ${numel} elements (mergekit refuses this); raise the density or exclude the tensor with a filter`,
          );
        }
        return { kind: "none" };
      }
      return { kind: "top", m: k, atLeast: false };
    }
    case "magnitude_outliers": {
      const { keep, drop } = breadcrumbsCounts(numel, p.density, p.gamma ?? 0.01);
      return { kind: "band", keep, drop };
    }
    case "random": {
      if (p.density <= 0) return { kind: "none" };
      // torch.bernoulli(full_like(δ, d)): d is a value of the sparsifier's work dtype.
      const inBf16 = semantics.arithmetic === "per-op" && working === "BF16";
      return { kind: "random", p: inBf16 ? roundBf16(p.density) : Math.fround(p.density) };
    }
    case "della_magprune": {
      if (p.density <= 0) return { kind: "none" };
      const epsilon = p.epsilon ?? 0.15;
      checkDellaParameters(p.density, epsilon, where);
      return { kind: "della", density: p.density, epsilon };
    }
  }
}

export function planRescale(
  sparsification: Sparsification | null,
  rescale: boolean,
  semantics: Semantics,
  working: WorkingDType,
  trim: TrimPlan,
  density: number,
): RescalePlan {
  if (!rescale || sparsification === null || trim.kind === "all" || trim.kind === "none")
    return { kind: "none" };
  if (sparsification === "della_magprune" || semantics.dareRescale === "l1") {
    return {
      kind: "l1",
      work: semantics.arithmetic === "per-op" ? sparsifierWorkDType(working, sparsification) : "F32",
    };
  }
  return { kind: "inverse-density", density };
}
