/**
 * Checkpoint tensors → ONNX Runtime feeds. Storage may be bf16, f16, f32 (or f64); linear weights become
 * float32 feeds (float16 with `matmulDtype: "float16"`), norms and biases float32. Each tensor is checked
 * against the shape config.json implies. A LoRA adapter is either kept as extra feeds (applied at run time)
 * or folded into the base weights.
 */
import { FormatError, f32ToF16, isFloatDType, numel, type Tensor, tensorToFloat32 } from "@lethe/core";
import * as ort from "onnxruntime-node";
import type { BuildOptions, LayerLinear } from "../arch/common.js";
import {
  EMBED_WEIGHT,
  FINAL_NORM_WEIGHT,
  globalParams,
  LM_HEAD_WEIGHT,
  layerParams,
  layerPrefix,
  type ParamSpec,
} from "../arch/graphs.js";
import type { ModelConfig } from "../config.js";
import { foldLoraInto } from "../lora/fold.js";
import { type LoraAdapter, layerLora } from "../lora/peft.js";

/** Where tensors come from: core's WeightsReader, or tensors in memory. */
export interface TensorSource {
  names(): string[];
  readTensor(name: string): Promise<Tensor>;
}

export class MemoryTensorSource implements TensorSource {
  private readonly tensors: Map<string, Tensor>;

  constructor(tensors: Map<string, Tensor> | Record<string, Tensor>) {
    this.tensors = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  async readTensor(name: string): Promise<Tensor> {
    const t = this.tensors.get(name);
    if (!t) throw new FormatError(`memory: no tensor "${name}"`);
    return t;
  }
}

export interface LayerWeights {
  /** Feeds of the layer graph by input name (`self_attn.q_proj.weight`, LoRA tensors, `lora_scaling`). */
  feeds: Record<string, ort.Tensor>;
  /** LoRA modules applied at run time, with their ranks; null when none. */
  lora: Map<LayerLinear, number> | null;
}

export interface ModelWeights {
  embed: ort.Tensor;
  /** lm_head.weight, or the embedding table when tied. */
  lmHead: ort.Tensor;
  finalNorm: ort.Tensor | null;
  layers: LayerWeights[];
  matmulDtype: BuildOptions["matmulDtype"];
}

export interface LoadWeightsOptions {
  matmulDtype?: BuildOptions["matmulDtype"];
  adapter?: LoraAdapter | null;
  /** Fold the adapter into the base weights instead of applying it at run time. */
  foldAdapter?: boolean;
  /** Names the checkpoint in error messages. */
  sourceName?: string;
}

function feed(values: Float32Array, shape: number[], dtype: "float32" | "float16"): ort.Tensor {
  return dtype === "float16"
    ? new ort.Tensor("float16", f32ToF16(values), shape)
    : new ort.Tensor("float32", values, shape);
}

async function readChecked(
  source: TensorSource,
  name: string,
  shape: number[],
  sourceName: string,
): Promise<Float32Array> {
  let t: Tensor;
  try {
    t = await source.readTensor(name);
  } catch (err) {
    throw new FormatError(`${sourceName}: missing tensor "${name}" (${(err as Error).message})`);
  }
  if (!isFloatDType(t.dtype))
    throw new FormatError(`${sourceName}: tensor "${name}" has dtype ${t.dtype}, not a float type`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new FormatError(
      `${sourceName}: tensor "${name}" has shape [${t.shape}], config.json implies [${shape}]`,
    );
  }
  return tensorToFloat32(t, name);
}

/** Read and convert every tensor the graphs need. */
export async function loadWeights(
  config: ModelConfig,
  source: TensorSource,
  options: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const dtype = options.matmulDtype ?? "float32";
  const sourceName = options.sourceName ?? "checkpoint";
  const names = new Set(source.names());
  const required = (spec: ParamSpec, full: string) => {
    if (!names.has(full)) throw new FormatError(`${sourceName}: missing tensor "${full}"`);
    return readChecked(source, full, spec.shape, sourceName);
  };
  const globals = new Map<string, ort.Tensor>();
  for (const spec of globalParams(config)) {
    globals.set(
      spec.name,
      feed(await required(spec, spec.name), spec.shape, spec.matmul ? dtype : "float32"),
    );
  }

  const adapter = options.adapter ?? null;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const lora = adapter ? layerLora(adapter, i) : new Map();
    const feeds: Record<string, ort.Tensor> = {};
    for (const spec of layerParams(config)) {
      const values = await required(spec, layerPrefix(i) + spec.name);
      const module = lora.get(spec.name.replace(/\.weight$/, "") as LayerLinear);
      if (module && options.foldAdapter) foldLoraInto(values, module, adapter!.config.scaling);
      feeds[spec.name] = feed(values, spec.shape, spec.matmul ? dtype : "float32");
    }
    let ranks: Map<LayerLinear, number> | null = null;
    if (!options.foldAdapter && lora.size > 0) {
      ranks = new Map();
      for (const [name, m] of lora) {
        feeds[`${name}.lora_A.weight`] = new ort.Tensor("float32", m.a, [m.rank, m.inFeatures]);
        feeds[`${name}.lora_B.weight`] = new ort.Tensor("float32", m.b, [m.outFeatures, m.rank]);
        ranks.set(name, m.rank);
      }
      feeds["lora_scaling"] = new ort.Tensor("float32", Float32Array.of(adapter!.config.scaling), []);
    }
    layers.push({ feeds, lora: ranks });
  }
  const embed = globals.get(EMBED_WEIGHT)!;
  return {
    embed,
    lmHead: config.tieWordEmbeddings ? embed : globals.get(LM_HEAD_WEIGHT)!,
    finalNorm: globals.get(FINAL_NORM_WEIGHT) ?? null,
    layers,
    matmulDtype: dtype,
  };
}

/** Number of parameters the config implies (embedding counted once when tied). */
export function parameterCount(config: ModelConfig): number {
  let n = 0;
  for (const s of globalParams(config)) n += numel(s.shape);
  for (const s of layerParams(config)) n += numel(s.shape) * config.numLayers;
  return n;
}
