/**
 * How far training has moved each module, per layer: ‖scaling·B·A‖_F for a LoRA module, ‖θ − θ₀‖_F for a
 * trained weight (θ₀ is the model's own feed as loaded, kept for the reference anyway: no extra copy).
 */
import { loraDeltaSquaredNorm, splitLayerName } from "@lethe/evaluator";
import type { ParameterSet } from "./params.js";

export interface WeightDelta {
  /** Decoder layer, or -1 outside the layers (embedding, final norm, lm_head). */
  layer: number;
  module: string;
  norm: number;
}

export function weightDeltaNorms(params: ParameterSet): WeightDelta[] {
  const out: WeightDelta[] = [];
  const factors = new Map<string, { a?: Float32Array; b?: Float32Array; rank: number }>();
  for (const p of params.params) {
    const lora = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(p.name);
    if (lora) {
      const entry = factors.get(lora[1]!) ?? { rank: 0 };
      if (lora[2] === "A") {
        entry.a = p.value;
        entry.rank = p.shape[0]!;
      } else entry.b = p.value;
      factors.set(lora[1]!, entry);
      continue;
    }
    const original = originalValue(params, p.name);
    let sq = 0;
    for (let i = 0; i < p.value.length; i++) sq += (p.value[i]! - original[i]!) ** 2;
    out.push({ ...where(p.name), norm: Math.sqrt(sq) });
  }
  for (const [module, f] of factors) {
    out.push({
      ...where(module),
      norm: Math.sqrt(loraDeltaSquaredNorm(f.a!, f.b!, f.rank, params.loraScaling)),
    });
  }
  return out.sort((x, y) => x.layer - y.layer || (x.module < y.module ? -1 : 1));
}

function where(name: string): { layer: number; module: string } {
  const { layer, module } = splitLayerName(name);
  return { layer: layer ?? -1, module };
}

function originalValue(params: ParameterSet, name: string): Float32Array {
  const w = params.model.weights;
  const { layer, module } = splitLayerName(name);
  const feed =
    layer !== null
      ? w.layers[layer]!.feeds[module]
      : name === "model.embed_tokens.weight"
        ? w.embed
        : name === "model.norm.weight"
          ? w.finalNorm
          : w.lmHead;
  if (!feed) throw new Error(`internal: no original value for ${name}`);
  return feed.data as Float32Array;
}
