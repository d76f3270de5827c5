/**
 * Linear merge of one block (mergekit linear.py): out = Σ_j w_j·X_j, divided by Σ_j w_j when `normalize`.
 * In mergekit arithmetic each product, the sum, the weight total and the quotient are rounded to W.
 */
import type { FloatDType } from "@lethe/core";
import { type Arithmetic, rounderFor, roundF32, type WorkingDType } from "../working-dtype.js";
import { decodable, decodeRange, encodeRange, type RawTensor } from "./decode.js";
import { CHUNK } from "./gta.js";

export interface LinearSpec {
  tensor: string;
  numel: number;
  working: WorkingDType;
  arithmetic: Arithmetic;
  outDtype: FloatDType;
  /** Weights as the arithmetic sees them (rounded to W in mergekit semantics). */
  weights: number[];
  normalize: boolean;
}

/** Σ w rounded as the arithmetic does; the caller refuses a zero total when normalizing. */
export function linearWeightTotal(spec: Pick<LinearSpec, "working" | "arithmetic" | "weights">): number {
  const round = spec.arithmetic === "per-op" ? rounderFor(spec.working) : roundF32;
  let sum = 0;
  for (const w of spec.weights) sum = Math.fround(sum + w);
  return round(sum);
}

export function linearBlock(
  spec: LinearSpec,
  inputs: readonly RawTensor[],
  start: number,
  end: number,
  out: Uint8Array,
): void {
  const roundW = rounderFor(spec.working);
  const round = spec.arithmetic === "per-op" ? roundW : roundF32;
  const sources = inputs.map((raw) => decodable(raw, spec.working));
  const values = sources.map(() => new Float32Array(CHUNK));
  const result = new Float32Array(CHUNK);
  const total = linearWeightTotal(spec);
  const { weights } = spec;
  for (let c = start; c < end; c += CHUNK) {
    const count = Math.min(CHUNK, end - c);
    sources.forEach((src, k) => {
      decodeRange(src, c, count, values[k]!);
    });
    for (let j = 0; j < count; j++) {
      let sum = 0;
      for (let k = 0; k < weights.length; k++) sum = Math.fround(sum + round(weights[k]! * values[k]![j]!));
      let v = round(sum);
      if (spec.normalize) v = round(v / total);
      result[j] = roundW(v);
    }
    encodeRange(result, count, spec.outDtype, out, c);
  }
}
