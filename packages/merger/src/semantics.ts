/**
 * The three readings of TIES-style merging, side by side (merging.md §0–§3). Everything that differs
 * between mergekit, the TIES paper's code and PEFT's merge_utils is decided here and nowhere else; the
 * merge kernels only read these fields.
 *
 * | aspect                  | mergekit (default)              | paper                               | peft                          |
 * |-------------------------|---------------------------------|-------------------------------------|-------------------------------|
 * | magnitude trim          | exactly k = ⌊d·n⌋ per tensor,   | every |δ| ≥ the value ranked ⌊d·n⌋+1 | exactly k per tensor, ties    |
 * |                         | ties → lower flat index first   | (per tensor, or over the whole model) | → lower flat index first     |
 * | k = 0                   | error (mergekit asserts)        | allowed                             | allowed (keeps nothing)       |
 * | sign vote               | sign Σ w·δ̂ (weighted)          | sign Σ δ̂ (unweighted)              | sign Σ δ̂ (unweighted)        |
 * | vote sum exactly 0      | +1                              | sign of the majority of the votes   | +1                            |
 * | divisor (disjoint mean) | Σ w of agreeing models          | count of agreeing models (≥ 1)      | count of agreeing models (≥1) |
 * |                         | (when normalize)                |                                     |                               |
 * | DARE rescale            | match the L1 norm               | 1 / density                         | 1 / density                   |
 * | arithmetic              | rounded to W after every op     | f32, rounded once on output         | f32, rounded once on output   |
 * | `weight`                | required                        | optional (default 1)                | required                      |
 *
 * In paper and peft semantics the weighted sum is Σ w·δ̂ over agreeing models divided by their count, as
 * PEFT's `disjoint_merge` does (the paper itself has no weights; with w = 1 it is the paper's mean).
 * `normalize` does not apply there (the count mean is built in). Breadcrumbs and DELLA sparsification
 * are mergekit's in all three semantics; only the choices above change.
 */
import type { Arithmetic } from "./working-dtype.js";

export type SemanticsName = "mergekit" | "paper" | "peft";

export const SEMANTICS_NAMES: readonly SemanticsName[] = ["mergekit", "paper", "peft"];

export interface Semantics {
  name: SemanticsName;
  /** "exact-k": keep exactly k, ties at the threshold to lower indices; "at-least": keep all ≥ threshold. */
  trim: "exact-k" | "at-least";
  /** What keeping zero elements does: mergekit refuses, the others keep nothing. */
  zeroKeep: "error" | "allow";
  /** The sign vote sums the weighted deltas (mergekit) or the unweighted ones. */
  vote: "weighted" | "unweighted";
  /** The elected sign where the vote sums to exactly 0. */
  zeroVote: "positive" | "majority";
  /** Divisor of the disjoint merge. */
  divisor: "weights" | "count";
  /** DARE/random rescaling of kept elements. */
  dareRescale: "l1" | "inverse-density";
  arithmetic: Arithmetic;
  weightRequired: boolean;
}

export const SEMANTICS: Record<SemanticsName, Semantics> = {
  mergekit: {
    name: "mergekit",
    trim: "exact-k",
    zeroKeep: "error",
    vote: "weighted",
    zeroVote: "positive",
    divisor: "weights",
    dareRescale: "l1",
    arithmetic: "per-op",
    weightRequired: true,
  },
  paper: {
    name: "paper",
    trim: "at-least",
    zeroKeep: "allow",
    vote: "unweighted",
    zeroVote: "majority",
    divisor: "count",
    dareRescale: "inverse-density",
    arithmetic: "f32",
    weightRequired: false,
  },
  peft: {
    name: "peft",
    trim: "exact-k",
    zeroKeep: "allow",
    vote: "unweighted",
    zeroVote: "positive",
    divisor: "count",
    dareRescale: "inverse-density",
    arithmetic: "f32",
    weightRequired: true,
  },
};

export function semanticsNamed(name: string): Semantics {
  const found = (SEMANTICS as Record<string, Semantics>)[name];
  if (!found) throw new Error(`unknown semantics "${name}": expected one of ${SEMANTICS_NAMES.join(", ")}`);
  return found;
}

/**
 * mergekit with `--exact-f32-accumulate`: the same choices, but intermediate results stay in f32 and are
 * rounded to W once, on output. A documented deviation for users who want the extra precision.
 */
export function withF32Arithmetic(semantics: Semantics): Semantics {
  return { ...semantics, arithmetic: "f32" };
}
