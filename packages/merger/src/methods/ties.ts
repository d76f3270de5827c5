/** TIES: trim each task vector to its top-k magnitudes, elect a sign per element, average the agreeing. */
import { gtaMethod } from "./gta.js";

export const ties = gtaMethod({
  name: "ties",
  prettyName: "TIES",
  referenceUrl: "https://arxiv.org/abs/2306.01708",
  sparsification: "magnitude",
  consensus: "sum",
  defaultNormalize: true,
  defaultRescale: false,
});
