/** The generalized task arithmetic family (mergekit `generalized_task_arithmetic.py`): shared parameters. */
import type { MergeMethod, ParameterDef, Sparsification } from "./types.js";

export interface GtaDefinition {
  name: string;
  prettyName: string;
  referenceUrl: string;
  sparsification: Sparsification | null;
  consensus: "sum" | null;
  defaultNormalize: boolean;
  defaultRescale: boolean;
}

export function gtaMethod(d: GtaDefinition): MergeMethod {
  const tensorParameters: ParameterDef[] = [
    { name: "weight", type: "number" },
    { name: "density", type: "number", default: 1.0 },
  ];
  if (d.sparsification === "magnitude_outliers") {
    tensorParameters.push({ name: "gamma", type: "number", default: 0.01 });
  }
  if (d.sparsification === "della_magprune") {
    tensorParameters.push({ name: "epsilon", type: "number", default: 0.15 });
  }
  return {
    name: d.name,
    prettyName: d.prettyName,
    referenceUrl: d.referenceUrl,
    family: "gta",
    sparsification: d.sparsification,
    consensus: d.consensus,
    globalParameters: [
      // Only changes the dtype of an intermediate in mergekit; the result is identical (issue #338).
      { name: "int8_mask", type: "boolean", default: false },
      { name: "normalize", type: "boolean", default: d.defaultNormalize },
      { name: "rescale", type: "boolean", default: d.defaultRescale },
      { name: "lambda", type: "number", default: 1.0 },
    ],
    tensorParameters,
  };
}
