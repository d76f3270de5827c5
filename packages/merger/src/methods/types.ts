/**
 * What a merge method is, as mergekit's registry describes it: which sparsifier trims the task vectors,
 * whether a sign consensus is taken, the defaults of `normalize` / `rescale`, and which parameters it reads.
 */
export type Sparsification = "magnitude" | "random" | "magnitude_outliers" | "della_magprune";

export interface ParameterDef {
  name: string;
  type: "number" | "boolean";
  /** Absent: required (merging.md §1.1: `weight` has no default). */
  default?: number | boolean;
}

export interface MergeMethod {
  name: string;
  prettyName: string;
  referenceUrl: string;
  /** "linear": Σ w·X over all models; "gta": generalized task arithmetic on deltas from the base. */
  family: "linear" | "gta";
  sparsification: Sparsification | null;
  consensus: "sum" | null;
  /** Parameters read once per tensor without a model (top-level `parameters`). */
  globalParameters: ParameterDef[];
  /** Parameters read per model and tensor. */
  tensorParameters: ParameterDef[];
}

/** Every parameter name any method reads: anything else in a config is a typo. */
export const KNOWN_PARAMETERS = [
  "weight",
  "density",
  "gamma",
  "epsilon",
  "normalize",
  "rescale",
  "lambda",
  "int8_mask",
] as const;

export const GLOBAL_PARAMETER_NAMES = new Set(["normalize", "rescale", "lambda", "int8_mask"]);
