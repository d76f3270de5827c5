/**
 * PEFT LoRA adapters: `adapter_config.json` + `adapter_model.safetensors`. A LoRA module adds
 * scaling · B·A to a linear weight W [out, in], with A = lora_A.weight [r, in], B = lora_B.weight [out, r] and
 * scaling = lora_alpha / r (lora_alpha / √r with use_rslora). PEFT stores the tensors as
 * `base_model.model.<module>.lora_A.weight`, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
 */
import { FormatError, type Tensor, tensorToFloat32 } from "@lethe/core";
import { z } from "zod";
import { LAYER_LINEARS, type LayerLinear, linearShapes } from "../arch/common.js";
import type { ModelConfig } from "../config.js";

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  useRslora: boolean;
  targetModules: string[] | string | null;
  scaling: number;
}

export interface LoraModule {
  /** [r, in] */
  a: Float32Array;
  /** [out, r] */
  b: Float32Array;
  rank: number;
  inFeatures: number;
  outFeatures: number;
}

export interface LoraAdapter {
  config: LoraConfig;
  /** Keyed by the module's path in the model, e.g. `model.layers.0.self_attn.q_proj`. */
  modules: Map<string, LoraModule>;
  source: string;
}

export interface AdapterTensorSource {
  names(): string[];
  readTensor(name: string): Promise<Tensor>;
}

const configSchema = z.looseObject({
  peft_type: z.string().nullish(),
  r: z.number().int().positive().default(8),
  lora_alpha: z.number().positive().default(8),
  use_rslora: z.boolean().default(false),
  use_dora: z.boolean().default(false),
  fan_in_fan_out: z.boolean().default(false),
  bias: z.string().default("none"),
  target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
  modules_to_save: z.array(z.string()).nullish(),
  rank_pattern: z.record(z.string(), z.unknown()).nullish(),
  alpha_pattern: z.record(z.string(), z.unknown()).nullish(),
});

function unsupported(source: string, field: string, detail: string): FormatError {
  return new FormatError(`${source}: unsupported adapter config field "${field}": ${detail}`);
}

export function parseAdapterConfig(raw: unknown, source = "adapter_config.json"): LoraConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FormatError(`${source}: adapter config field "${issue.path.join(".")}": ${issue.message}`);
  }
  const c = parsed.data;
  if (c.peft_type != null && c.peft_type !== "LORA")
    throw unsupported(source, "peft_type", `${c.peft_type} (only LORA)`);
  if (c.use_dora) throw unsupported(source, "use_dora", "true (DoRA is not implemented)");
  if (c.fan_in_fan_out) throw unsupported(source, "fan_in_fan_out", "true (only nn.Linear layouts)");
  if (c.bias !== "none") throw unsupported(source, "bias", `${JSON.stringify(c.bias)} (only "none")`);
  if (c.modules_to_save && c.modules_to_save.length > 0)
    throw unsupported(source, "modules_to_save", "must be empty");
  if (c.rank_pattern && Object.keys(c.rank_pattern).length > 0)
    throw unsupported(source, "rank_pattern", "must be empty");
  if (c.alpha_pattern && Object.keys(c.alpha_pattern).length > 0)
    throw unsupported(source, "alpha_pattern", "must be empty");
  return {
    r: c.r,
    loraAlpha: c.lora_alpha,
    useRslora: c.use_rslora,
    targetModules: c.target_modules ?? null,
    scaling: c.use_rslora ? c.lora_alpha / Math.sqrt(c.r) : c.lora_alpha / c.r,
  };
}

const TENSOR_NAME = /^base_model\.model\.(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$/;
const LAYER_MODULE = /^model\.layers\.(\d+)\.(.+)$/;

/** Split a module path into its layer index and linear name, or throw naming the tensor. */
export function layerModule(
  module: string,
  config: ModelConfig,
  what: string,
): { layer: number; linear: LayerLinear } {
  const m = LAYER_MODULE.exec(module);
  const linear = m?.[2] as LayerLinear | undefined;
  if (!m || !linear || !LAYER_LINEARS.includes(linear)) {
    throw new FormatError(
      `${what}: LoRA on "${module}" is not supported (only the linear layers of decoder layers)`,
    );
  }
  const layer = Number(m[1]);
  if (layer >= config.numLayers)
    throw new FormatError(`${what}: layer ${layer} does not exist (${config.numLayers} layers)`);
  return { layer, linear };
}

/** Read every LoRA module of an adapter and check it against the model's shapes. */
export async function loadAdapter(
  tensors: AdapterTensorSource,
  rawConfig: unknown,
  model: ModelConfig,
  source = "adapter",
): Promise<LoraAdapter> {
  const config = parseAdapterConfig(rawConfig, `${source}/adapter_config.json`);
  const parts = new Map<string, { a?: Tensor; b?: Tensor }>();
  for (const name of tensors.names()) {
    const m = TENSOR_NAME.exec(name);
    if (!m) throw new FormatError(`${source}: tensor "${name}" is not a LoRA A/B weight`);
    const entry = parts.get(m[1]!) ?? {};
    const t = await tensors.readTensor(name);
    if (m[2] === "A") entry.a = t;
    else entry.b = t;
    parts.set(m[1]!, entry);
  }
  const modules = new Map<string, LoraModule>();
  for (const [module, { a, b }] of parts) {
    const what = `${source}: module "${module}"`;
    if (!a || !b) throw new FormatError(`${what}: lora_${a ? "B" : "A"}.weight is missing`);
    const { linear } = layerModule(module, model, what);
    const [outF, inF] = linearShapes(model)[linear];
    const rank = a.shape[0]!;
    if (a.shape.length !== 2 || a.shape[1] !== inF) {
      throw new FormatError(`${what}: lora_A.weight has shape [${a.shape}], expected [r, ${inF}]`);
    }
    if (b.shape.length !== 2 || b.shape[0] !== outF || b.shape[1] !== rank) {
      throw new FormatError(`${what}: lora_B.weight has shape [${b.shape}], expected [${outF}, ${rank}]`);
    }
    if (rank !== config.r)
      throw new FormatError(`${what}: rank ${rank} differs from r = ${config.r} in adapter_config.json`);
    modules.set(module, {
      a: tensorToFloat32(a, `${module}.lora_A.weight`),
      b: tensorToFloat32(b, `${module}.lora_B.weight`),
      rank,
      inFeatures: inF,
      outFeatures: outF,
    });
  }
  if (modules.size === 0) throw new FormatError(`${source}: the adapter has no LoRA tensors`);
  return { config, modules, source };
}

/** The LoRA modules of decoder layer `layer`, by linear name. */
export function layerLora(adapter: LoraAdapter, layer: number): Map<LayerLinear, LoraModule> {
  const out = new Map<LayerLinear, LoraModule>();
  const prefix = `model.layers.${layer}.`;
  for (const [module, m] of adapter.modules) {
    if (module.startsWith(prefix)) out.set(module.slice(prefix.length) as LayerLinear, m);
  }
  return out;
}
