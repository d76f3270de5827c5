import { type Adapter, FormatError, openCheckpoint, tensorToFloat32, type WeightsReader } from "@lethe/core";
import type { WeightDeltaStats } from "./types.js";

/** `model.layers.12.mlp.down_proj.weight` → layer 12, module `mlp.down_proj.weight`; others → layer null. */
export function splitLayerName(name: string): { layer: number | null; module: string } {
  const match = /(?:^|\.)layers\.(\d+)\.(.+)$/.exec(name);
  if (match === null) return { layer: null, module: name };
  return { layer: Number(match[1]), module: match[2]! };
}

/** A LoRA pair of one target weight, from PEFT tensor names `…<target>.lora_A.weight` / `.lora_B.weight`. */
interface LoraPair {
  a?: string;
  b?: string;
}

/** PEFT names are `base_model.model.<base name without .weight>.lora_A.weight`. */
function loraTargets(adapter: Adapter): Map<string, LoraPair> {
  const targets = new Map<string, LoraPair>();
  for (const name of adapter.weights.names()) {
    const match = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$/.exec(name);
    if (match === null) continue;
    const target = `${match[1]}.weight`;
    const pair = targets.get(target) ?? {};
    if (match[2] === "A") pair.a = name;
    else pair.b = name;
    targets.set(target, pair);
  }
  return targets;
}

/** The LoRA scaling PEFT applies: lora_alpha / r, or lora_alpha / √r with rsLoRA. */
export function loraScaling(config: Record<string, unknown>): number {
  const r = Number(config["r"]);
  const alpha = Number(config["lora_alpha"] ?? r);
  if (!(r > 0) || !Number.isFinite(alpha)) {
    throw new FormatError(
      `adapter_config.json: r=${config["r"]} lora_alpha=${config["lora_alpha"]} are not usable`,
    );
  }
  return config["use_rslora"] === true ? alpha / Math.sqrt(r) : alpha / r;
}

function squaredNorm(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

/** ‖s·B·A‖²_F via the r×r Gram matrices: Σ_ij (BᵀB)_ij (AAᵀ)_ij · s², without forming B·A. */
export function loraDeltaSquaredNorm(
  a: Float32Array,
  b: Float32Array,
  rank: number,
  scaling: number,
): number {
  const inDim = a.length / rank;
  const outDim = b.length / rank;
  let total = 0;
  for (let i = 0; i < rank; i++) {
    for (let j = 0; j < rank; j++) {
      let gb = 0; // (BᵀB)_ij, B is outDim × rank
      for (let o = 0; o < outDim; o++) gb += b[o * rank + i]! * b[o * rank + j]!;
      let ga = 0; // (AAᵀ)_ij, A is rank × inDim
      for (let c = 0; c < inDim; c++) ga += a[i * inDim + c]! * a[j * inDim + c]!;
      total += gb * ga;
    }
  }
  return total * scaling * scaling;
}

/** Add s·B·A (outDim × inDim) to `into`, row-major. */
function addLoraProduct(
  into: Float32Array,
  a: Float32Array,
  b: Float32Array,
  rank: number,
  scaling: number,
): void {
  const inDim = a.length / rank;
  const outDim = b.length / rank;
  for (let o = 0; o < outDim; o++) {
    const row = o * inDim;
    for (let k = 0; k < rank; k++) {
      const coeff = b[o * rank + k]! * scaling;
      if (coeff === 0) continue;
      const aRow = k * inDim;
      for (let c = 0; c < inDim; c++) into[row + c]! += coeff * a[aRow + c]!;
    }
  }
}

async function readFloat(reader: WeightsReader, name: string): Promise<Float32Array> {
  return tensorToFloat32(await reader.readTensor(name));
}

export interface WeightDeltaOptions {
  /** A LoRA adapter applied on top of the checkpoint (`lethe-eval run --adapter`). */
  adapterUri?: string;
}

/**
 * Per-tensor change of a checkpoint against its base (or parent): ‖W − W₀‖_F next to ‖W₀‖_F, for every
 * tensor the base has. An adapter (in the checkpoint itself or given separately) adds s·B·A to its
 * target weights; when the full weights are unchanged the adapter's norm is computed without forming B·A.
 */
export async function weightDeltas(
  checkpointUri: string,
  baseUri: string,
  options: WeightDeltaOptions = {},
): Promise<WeightDeltaStats[]> {
  const checkpoint = await openCheckpoint(checkpointUri);
  const base = await openCheckpoint(baseUri);
  const adapterSource = options.adapterUri === undefined ? null : await openCheckpoint(options.adapterUri);
  try {
    if (base.weights === null) {
      throw new FormatError(`${base.uri}: the base has no full weights to compare against`);
    }
    const adapter = adapterSource === null ? checkpoint.adapter : adapterSource.adapter;
    if (adapterSource !== null && adapter === null) {
      throw new FormatError(`${adapterSource.uri}: no adapter_config.json / adapter_model.safetensors`);
    }
    // An adapter-only checkpoint applies to the base's weights.
    return await compareTensors(
      checkpoint.weights ?? base.weights,
      base.weights,
      adapter,
      checkpoint.uri,
      base.uri,
    );
  } finally {
    for (const c of [checkpoint, base, adapterSource]) {
      c?.weights?.close();
      c?.adapter?.weights.close();
    }
  }
}

async function compareTensors(
  weights: WeightsReader,
  baseWeights: WeightsReader,
  adapter: Adapter | null,
  checkpointUri: string,
  baseUri: string,
): Promise<WeightDeltaStats[]> {
  const targets = adapter === null ? new Map<string, LoraPair>() : loraTargets(adapter);
  const scaling = adapter === null ? 0 : loraScaling(adapter.config);
  const baseNames = new Set(baseWeights.names());
  const names = new Set(weights.names());
  for (const target of targets.keys()) {
    if (!baseNames.has(target))
      throw new FormatError(`adapter targets ${target}, which the base ${baseUri} does not have`);
  }

  const stats: WeightDeltaStats[] = [];
  for (const name of [...baseNames].sort()) {
    if (!names.has(name))
      throw new FormatError(`${checkpointUri}: has no tensor ${name} (the base ${baseUri} has)`);
    const w0 = await readFloat(baseWeights, name);
    const w = await readFloat(weights, name);
    if (w.length !== w0.length) {
      throw new FormatError(`${name}: ${w.length} elements in the checkpoint, ${w0.length} in the base`);
    }
    let deltaSquared = 0;
    for (let i = 0; i < w.length; i++) deltaSquared += (w[i]! - w0[i]!) ** 2;
    const pair = targets.get(name);
    if (pair !== undefined && adapter !== null) {
      if (pair.a === undefined || pair.b === undefined) {
        throw new FormatError(`adapter: ${name} has only one of lora_A / lora_B`);
      }
      const a = await readFloat(adapter.weights, pair.a);
      const b = await readFloat(adapter.weights, pair.b);
      const rank = (await adapter.weights.entry(pair.a)).shape[0] ?? 0;
      const [outDim, inDim] = (await baseWeights.entry(name)).shape;
      if (rank === 0 || a.length !== rank * (inDim ?? 0) || b.length !== rank * (outDim ?? 0)) {
        throw new FormatError(`adapter: the LoRA factors of ${name} do not fit its shape`);
      }
      if (deltaSquared === 0) {
        deltaSquared = loraDeltaSquaredNorm(a, b, rank, scaling);
      } else {
        // Both changes at once: form W − W₀ + s·B·A.
        const delta = new Float32Array(w.length);
        for (let i = 0; i < w.length; i++) delta[i] = w[i]! - w0[i]!;
        addLoraProduct(delta, a, b, rank, scaling);
        deltaSquared = squaredNorm(delta);
      }
    }
    const baseNorm = Math.sqrt(squaredNorm(w0));
    const deltaNorm = Math.sqrt(deltaSquared);
    const { layer, module } = splitLayerName(name);
    stats.push({
      layer,
      module,
      delta_norm: deltaNorm,
      base_norm: baseNorm,
      relative: baseNorm === 0 ? 0 : deltaNorm / baseNorm,
    });
  }
  return stats.sort((x, y) => (x.layer ?? -1) - (y.layer ?? -1) || x.module.localeCompare(y.module));
}
