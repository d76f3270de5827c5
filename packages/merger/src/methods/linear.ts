/** Linear (model soup): out = Σ w·X over every listed model, divided by Σ w when `normalize` (default). */
import type { MergeMethod } from "./types.js";

export const linear: MergeMethod = {
  name: "linear",
  prettyName: "Linear",
  referenceUrl: "https://arxiv.org/abs/2203.05482",
  family: "linear",
  sparsification: null,
  consensus: null,
  globalParameters: [{ name: "normalize", type: "boolean", default: true }],
  tensorParameters: [{ name: "weight", type: "number" }],
};
