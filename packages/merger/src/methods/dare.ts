/** DARE: drop elements at random (keep probability = density) and rescale, then TIES-vote or sum. */
import { gtaMethod } from "./gta.js";

export const dareTies = gtaMethod({
  name: "dare_ties",
  prettyName: "DARE TIES",
  referenceUrl: "https://arxiv.org/abs/2311.03099",
  sparsification: "random",
  consensus: "sum",
  defaultNormalize: false,
  defaultRescale: true,
});

export const dareLinear = gtaMethod({
  name: "dare_linear",
  prettyName: "Linear DARE",
  referenceUrl: "https://arxiv.org/abs/2311.03099",
  sparsification: "random",
  consensus: null,
  defaultNormalize: false,
  defaultRescale: true,
});
