/** A mergekit-semantics bf16 tensor job over bf16 inputs: what the fused SIMD path runs. */
import type { GtaTensorJob } from "../../src/engine/gta-tensor.js";
import { gtaJob } from "../../src/engine/tensor-job.js";
import type { RawTensor } from "../../src/kernels/decode.js";
import { mergeMethod } from "../../src/methods/registry.js";
import { SEMANTICS } from "../../src/semantics.js";

export interface Bf16JobOptions {
  method?: string;
  tensor?: string;
  shape: number[];
  models: { weight: number; density: number }[];
  normalize?: boolean;
  lambda?: number;
}

export function bf16Job(
  options: Bf16JobOptions,
  inputs: { base: RawTensor; models: RawTensor[] },
): GtaTensorJob {
  return gtaJob(
    {
      method: mergeMethod(options.method ?? "ties")!,
      semantics: SEMANTICS.mergekit,
      working: "BF16",
      outDtype: "BF16",
      tensor: options.tensor ?? "t",
      shape: options.shape,
      models: options.models.map((m, index) => ({ index, ...m })),
      normalize: options.normalize ?? true,
      rescale: false,
      lambda: options.lambda ?? 1,
      seed: 0,
    },
    inputs,
  );
}
