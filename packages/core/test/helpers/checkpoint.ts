import { CheckpointWriter } from "../../src/checkpoint/writer.js";
import { ShardedWeightsWriter } from "../../src/safetensors/sharded.js";
import type { TensorSpec } from "../../src/safetensors/writer.js";
import type { StoreOptions } from "../../src/store/open.js";

/** Deterministic bytes for a tensor, so tests can recompute what was written. */
export function patternBytes(name: string, length: number): Uint8Array {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    out[i] = h & 0xff;
  }
  return out;
}

export const TINY_SPECS: TensorSpec[] = [
  { name: "model.embed_tokens.weight", dtype: "BF16", shape: [32, 8] },
  { name: "model.layers.0.self_attn.q_proj.weight", dtype: "BF16", shape: [8, 8] },
  { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [16, 8] },
  { name: "model.norm.weight", dtype: "F32", shape: [8] },
];

export function specBytes(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1) * (spec.dtype === "F32" ? 4 : 2);
}

/** Publishes a small HF-layout checkpoint with pattern weights; returns the manifest. */
export async function writeTinyCheckpoint(
  uri: string,
  options: { specs?: TensorSpec[]; maxShardBytes?: number; store?: StoreOptions } = {},
) {
  const specs = options.specs ?? TINY_SPECS;
  const writer = await CheckpointWriter.begin(uri, {
    stage: "test",
    parents: ["file:///base"],
    parameters: { seed: 1 },
    ...(options.store ? { store: options.store } : {}),
  });
  await writer.putJson("config.json", {
    architectures: ["LlamaForCausalLM"],
    num_hidden_layers: 1,
    hidden_size: 8,
  });
  await writer.putJson("tokenizer_config.json", { eos_token: "<|endoftext|>" });
  const weights = ShardedWeightsWriter.create(
    writer.store,
    specs,
    options.maxShardBytes === undefined ? {} : { maxShardBytes: options.maxShardBytes },
  );
  for (const name of weights.order) {
    const spec = specs.find((s) => s.name === name)!;
    await weights.writeTensor(name, patternBytes(name, specBytes(spec)));
  }
  await weights.finish();
  writer.setMetrics({ loss: 0.5 });
  return writer.commit();
}
