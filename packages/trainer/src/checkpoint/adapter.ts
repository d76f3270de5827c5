/**
 * A PEFT LoRA adapter: `adapter_config.json` as PEFT's LoraConfig saves it, and `adapter_model.safetensors`
 * with the factors under PEFT's names (`base_model.model.model.layers.N.<module>.lora_{A,B}.weight`, f32).
 * Loadable by `PeftModel.from_pretrained(base, path)` and by @lethe/model's `loadAdapter`.
 */
import { fileURLToPath } from "node:url";
import {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  bytesOf,
  FormatError,
  joinSource,
  SafetensorsWriter,
  type Store,
} from "@lethe/core";
import { LAYER_LINEARS } from "@lethe/model";
import { checkTensor } from "./tensors.js";
import type { LoraSettings, TrainedTensor } from "./types.js";

const LORA_NAME = /^base_model\.model\.model\.layers\.\d+\.[a-z_]+\.[a-z_]+\.lora_[AB]\.weight$/;

/** `q_proj` for `q_proj` or `self_attn.q_proj`; an error naming the module otherwise. */
export function shortModuleName(module: string): string {
  const found = LAYER_LINEARS.find((m) => m === module || m.endsWith(`.${module}`));
  if (!found) {
    throw new FormatError(
      `lora.target_modules: "${module}" is not a linear module (allowed: ${LAYER_LINEARS.map((m) => m.split(".")[1]).join(", ")})`,
    );
  }
  return found.split(".").at(-1)!;
}

/** The base model as PEFT records it: a local path for file:// URIs, the URI otherwise. */
export function baseModelName(uri: string): string {
  return uri.startsWith("file://") ? fileURLToPath(uri) : uri;
}

export function adapterConfig(lora: LoraSettings, baseModel: string): Record<string, unknown> {
  const layers = lora.layers && lora.layers.length > 0 ? [...lora.layers] : null;
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModelName(baseModel),
    revision: null,
    inference_mode: true,
    r: lora.r,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: [...new Set(lora.target_modules.map(shortModuleName))],
    bias: "none",
    use_rslora: lora.rslora ?? false,
    use_dora: false,
    fan_in_fan_out: false,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: layers,
    layers_pattern: layers ? "layers" : null,
    rank_pattern: {},
    alpha_pattern: {},
  };
}

/** Checks every parameter is a LoRA factor of rank r, naming the first that is not. */
export function checkLoraParams(params: readonly TrainedTensor[], lora: LoraSettings): void {
  if (params.length === 0) throw new FormatError("lora checkpoint: no LoRA factors to write");
  for (const p of params) {
    if (!LORA_NAME.test(p.name)) {
      throw new FormatError(
        `lora checkpoint: parameter "${p.name}" is not a LoRA factor (a PEFT adapter holds only base_model.model.….lora_A/B.weight)`,
      );
    }
    const rank = p.name.endsWith(".lora_A.weight") ? p.shape[0] : p.shape[1];
    if (p.shape.length !== 2 || rank !== lora.r) {
      throw new FormatError(
        `lora checkpoint: parameter "${p.name}" has shape [${p.shape}], which does not have rank r = ${lora.r}`,
      );
    }
  }
}

export async function writeAdapter(
  store: Store,
  params: readonly TrainedTensor[],
  lora: LoraSettings,
  baseModel: string,
): Promise<void> {
  checkLoraParams(params, lora);
  const writer = new SafetensorsWriter(
    store.createWriter(ADAPTER_WEIGHTS_FILE),
    params.map((p) => ({ name: p.name, dtype: "F32" as const, shape: [...p.shape] })),
    { metadata: { format: "pt" }, source: joinSource(store.uri, ADAPTER_WEIGHTS_FILE) },
  );
  const byName = new Map(params.map((p) => [p.name, p]));
  try {
    for (const name of writer.order) {
      const p = byName.get(name)!;
      checkTensor(p, ADAPTER_WEIGHTS_FILE);
      await writer.writeTensor(name, bytesOf(p.value));
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await store.put(
    ADAPTER_CONFIG_FILE,
    new TextEncoder().encode(`${JSON.stringify(adapterConfig(lora, baseModel), null, 2)}\n`),
  );
}
