/**
 * PEFT's lora_dropout: each LoRA module's input is multiplied by a mask of 0 (probability p) and 1/(1−p). The
 * mask of (pass, layer, module) comes from a seeded stream named by all three, so the backward pass's recomputation
 * draws the very mask the forward pass used without keeping it (a [batch, seq, in] tensor per module and layer).
 */
import { Rng } from "@lethe/core";
import { type LayerLinear, linearShapes, type ModelConfig, ort } from "@lethe/model";

/** The mask of one module's input for one pass and layer: [rows·in] of 0 and 1/(1−p). */
export function dropoutMask(
  p: number,
  seed: number,
  pass: number,
  layer: number,
  module: string,
  n: number,
): Float32Array {
  const mask = new Float32Array(n);
  const keep = 1 / (1 - p);
  const threshold = Math.floor(p * 2 ** 32);
  let s = new Rng(seed).fork(`lora_dropout/${pass}/${layer}/${module}`).next() || 1;
  for (let k = 0; k < n; k++) {
    // xorshift32: fast, and only the comparison with the threshold matters
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    mask[k] = s >>> 0 < threshold ? 0 : keep;
  }
  return mask;
}

/** The `<module>.lora_dropout` feeds of one layer's graph. */
export function dropoutFeeds(
  config: ModelConfig,
  modules: Iterable<LayerLinear>,
  p: number,
  seed: number,
  pass: number,
  layer: number,
  batch: number,
  seq: number,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const shapes = linearShapes(config);
  for (const module of modules) {
    const inF = shapes[module][1];
    const mask = dropoutMask(p, seed, pass, layer, module, batch * seq * inF);
    feeds[`${module}.lora_dropout`] = new ort.Tensor("float32", mask, [batch, seq, inF]);
  }
  return feeds;
}
