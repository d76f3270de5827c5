/** Task arithmetic: base + λ·Σ w·δ, no trimming and no vote. */
import { gtaMethod } from "./gta.js";

export const taskArithmetic = gtaMethod({
  name: "task_arithmetic",
  prettyName: "Task Arithmetic",
  referenceUrl: "https://arxiv.org/abs/2212.04089",
  sparsification: null,
  consensus: null,
  defaultNormalize: false,
  defaultRescale: false,
});
