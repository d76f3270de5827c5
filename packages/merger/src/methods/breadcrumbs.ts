/** Model Breadcrumbs: drop the largest γ·n outliers and the smallest elements, keeping density·n. */
import { gtaMethod } from "./gta.js";

export const breadcrumbs = gtaMethod({
  name: "breadcrumbs",
  prettyName: "Model Breadcrumbs",
  referenceUrl: "https://arxiv.org/abs/2312.06795",
  sparsification: "magnitude_outliers",
  consensus: null,
  defaultNormalize: false,
  defaultRescale: false,
});

export const breadcrumbsTies = gtaMethod({
  name: "breadcrumbs_ties",
  prettyName: "Model Breadcrumbs with TIES",
  referenceUrl: "https://arxiv.org/abs/2312.06795",
  sparsification: "magnitude_outliers",
  consensus: "sum",
  defaultNormalize: false,
  defaultRescale: false,
});
