/**
 * From resolved parameters to the kernels' job description for one tensor: what the method, the
 * semantics and the model parameters mean for trimming, rescaling, voting and rounding.
 */
import type { FloatDType } from "@lethe/core";
import type { GtaInputs, GtaSpec } from "../kernels/gta.js";
import type { LinearSpec } from "../kernels/linear.js";
import type { MergeMethod } from "../methods/types.js";
import type { Semantics } from "../semantics.js";
import { randomKey } from "../sparsify/random.js";
import { planRescale, planTrim } from "../sparsify/trim.js";
import { scalarIn, type WorkingDType } from "../working-dtype.js";
import type { GtaTensorJob } from "./gta-tensor.js";

export interface ModelTensorParameters {
  /** Position in the config's `models` list (keys the random stream). */
  index: number;
  weight: number;
  density: number;
  gamma?: number;
  epsilon?: number;
}

export interface TensorMergeParameters {
  method: MergeMethod;
  semantics: Semantics;
  working: WorkingDType;
  outDtype: FloatDType;
  tensor: string;
  shape: readonly number[];
  models: ModelTensorParameters[];
  normalize: boolean;
  rescale: boolean;
  lambda: number;
  seed: number;
  inputsAreDeltas?: boolean;
  addBase?: boolean;
}

export function shapeNumel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The weight as the arithmetic sees it: a value of W in mergekit (`torch.tensor(w, dtype=W)`). */
export function arithmeticWeight(semantics: Semantics, working: WorkingDType, weight: number): number {
  return semantics.arithmetic === "per-op" ? scalarIn(working, weight) : weight;
}

export function gtaJob(p: TensorMergeParameters, inputs: GtaInputs): GtaTensorJob {
  if (p.method.family !== "gta")
    throw new Error(`internal: ${p.method.name} is not a task-arithmetic method`);
  const numel = shapeNumel(p.shape);
  const cols = p.shape.length === 0 ? 1 : p.shape[p.shape.length - 1]!;
  const spec: GtaSpec = {
    tensor: p.tensor,
    numel,
    rows: cols === 0 ? 0 : numel / cols,
    cols,
    working: p.working,
    arithmetic: p.semantics.arithmetic,
    outDtype: p.outDtype,
    sparsification: p.method.sparsification,
    consensus: p.method.consensus,
    vote: p.semantics.vote,
    zeroVote: p.semantics.zeroVote,
    divisor: p.semantics.divisor,
    normalize: p.normalize,
    lambda: p.lambda,
    inputsAreDeltas: p.inputsAreDeltas ?? false,
    addBase: p.addBase ?? true,
    randomKey: randomKey(p.seed, p.tensor),
    models: p.models.map((m) => ({
      index: m.index,
      weight: arithmeticWeight(p.semantics, p.working, m.weight),
    })),
  };
  const trims = p.models.map((m) =>
    planTrim(p.method.sparsification, p.semantics, p.working, numel, m, `${p.tensor} (model ${m.index})`),
  );
  const rescales = p.models.map((m, i) =>
    planRescale(p.method.sparsification, p.rescale, p.semantics, p.working, trims[i]!, m.density),
  );
  return { spec, inputs, trims, rescales };
}

export function linearSpec(p: Omit<TensorMergeParameters, "rescale" | "lambda" | "seed">): LinearSpec {
  return {
    tensor: p.tensor,
    numel: shapeNumel(p.shape),
    working: p.working,
    arithmetic: p.semantics.arithmetic,
    outDtype: p.outDtype,
    weights: p.models.map((m) => arithmeticWeight(p.semantics, p.working, m.weight)),
    normalize: p.normalize,
  };
}
