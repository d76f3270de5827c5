/**
 * Loading a model from a Hugging Face checkpoint directory or S3 prefix (config.json + model.safetensors or a
 * sharded index), optionally with a PEFT LoRA adapter from another checkpoint. No hub downloads.
 */
import { FormatError, joinSource, NotFoundError, openCheckpoint, type StoreOptions } from "@lethe/core";
import { parseConfig } from "../config.js";
import { type LoraAdapter, loadAdapter } from "../lora/peft.js";
import { Model, type ModelOptions } from "./model.js";

export interface LoadModelOptions extends Omit<ModelOptions, "adapter" | "sourceName"> {
  /** URI of a checkpoint holding adapter_config.json + adapter_model.safetensors, or a loaded adapter. */
  adapter?: string | LoraAdapter | null;
  store?: StoreOptions;
}

/** Read a PEFT adapter from a checkpoint URI, checked against the base model's config. */
export async function loadAdapterFrom(
  uri: string,
  config: ReturnType<typeof parseConfig>,
  store: StoreOptions = {},
): Promise<LoraAdapter> {
  const ckpt = await openCheckpoint(uri, store);
  if (!ckpt.adapter) throw new NotFoundError(`${ckpt.uri}: no adapter_config.json (not a LoRA adapter)`);
  try {
    return await loadAdapter(ckpt.adapter.weights, ckpt.adapter.config, config, ckpt.uri);
  } finally {
    ckpt.adapter.weights.close();
  }
}

export async function loadModel(uri: string, options: LoadModelOptions = {}): Promise<Model> {
  const ckpt = await openCheckpoint(uri, options.store ?? {});
  const configSource = joinSource(ckpt.uri, "config.json");
  const hint = ckpt.adapter ? " (this is a LoRA adapter: load the base model with this as its adapter)" : "";
  if (!ckpt.config) throw new NotFoundError(`${configSource}: not found${hint}`);
  const config = parseConfig(ckpt.config, configSource);
  if (!ckpt.weights)
    throw new FormatError(`${ckpt.uri}: no model.safetensors or model.safetensors.index.json${hint}`);
  const adapter =
    typeof options.adapter === "string"
      ? await loadAdapterFrom(options.adapter, config, options.store)
      : options.adapter;
  try {
    return await Model.create(config, ckpt.weights, {
      ...options,
      adapter: adapter ?? null,
      sourceName: ckpt.uri,
    });
  } finally {
    ckpt.weights.close();
    ckpt.adapter?.weights.close();
  }
}
