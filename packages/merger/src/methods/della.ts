/** DELLA: per-row magnitude-ranked keep probabilities in [d−ε, d+ε], then TIES-vote (della) or sum. */
import { gtaMethod } from "./gta.js";

export const della = gtaMethod({
  name: "della",
  prettyName: "DELLA",
  referenceUrl: "https://arxiv.org/abs/2406.11617",
  sparsification: "della_magprune",
  consensus: "sum",
  defaultNormalize: true,
  defaultRescale: true,
});

export const dellaLinear = gtaMethod({
  name: "della_linear",
  prettyName: "Linear DELLA",
  referenceUrl: "https://arxiv.org/abs/2406.11617",
  sparsification: "della_magprune",
  consensus: null,
  defaultNormalize: false,
  defaultRescale: true,
});
