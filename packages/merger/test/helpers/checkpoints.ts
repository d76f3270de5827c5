/** Writing small Hugging Face-layout checkpoints and PEFT adapters for merge tests, and reading results. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  CheckpointWriter,
  type DType,
  decodeToFloat32,
  encodeFromFloat32,
  type FloatDType,
  isFloatDType,
  openCheckpoint,
  ShardedWeightsWriter,
  type StoreOptions,
} from "@lethe/core";
import { afterAll } from "vitest";

export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `lethe-merger-${label}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestTensor {
  name: string;
  dtype: DType;
  shape: number[];
  values: number[];
}

function encode(t: TestTensor): Uint8Array {
  if (t.dtype === "I64") return new Uint8Array(BigInt64Array.from(t.values.map(BigInt)).buffer);
  if (t.dtype === "F64") return new Uint8Array(Float64Array.from(t.values).buffer);
  if (!isFloatDType(t.dtype)) return Uint8Array.from(t.values);
  return new Uint8Array(encodeFromFloat32(Float32Array.from(t.values), t.dtype as FloatDType));
}

export async function writeModel(
  uri: string,
  tensors: TestTensor[],
  options: {
    config?: Record<string, unknown> | null;
    tokenizer?: boolean;
    maxShardBytes?: number;
    store?: StoreOptions;
  } = {},
): Promise<string> {
  const writer = await CheckpointWriter.begin(uri, {
    stage: "test",
    ...(options.store ? { store: options.store } : {}),
  });
  if (options.config !== null) {
    await writer.putJson(
      "config.json",
      options.config ?? {
        architectures: ["LlamaForCausalLM"],
        num_hidden_layers: 2,
        torch_dtype: "bfloat16",
        vocab_size: 16,
      },
    );
  }
  if (options.tokenizer) {
    await writer.putJson("tokenizer_config.json", { eos_token: "<|endoftext|>" });
    await writer.putJson("tokenizer.json", { version: "1.0", model: { type: "BPE" } });
  }
  const weights = ShardedWeightsWriter.create(
    writer.store,
    tensors,
    options.maxShardBytes ? { maxShardBytes: options.maxShardBytes } : {},
  );
  for (const name of weights.order)
    await weights.writeTensor(name, encode(tensors.find((t) => t.name === name)!));
  await weights.finish();
  await writer.commit();
  return uri;
}

export async function writeAdapter(
  uri: string,
  config: Record<string, unknown>,
  factors: TestTensor[],
): Promise<string> {
  const writer = await CheckpointWriter.begin(uri, { stage: "test" });
  await writer.putJson("adapter_config.json", config);
  const weights = ShardedWeightsWriter.create(writer.store, factors, {
    singleFile: "adapter_model.safetensors",
  });
  for (const name of weights.order)
    await weights.writeTensor(name, encode(factors.find((t) => t.name === name)!));
  await weights.finish();
  await writer.commit();
  return uri;
}

/** Every tensor of a checkpoint (or an adapter's factors) as numbers. */
export async function readModel(
  uri: string,
  options: StoreOptions = {},
): Promise<Map<string, { dtype: DType; shape: number[]; values: number[] }>> {
  const ck = await openCheckpoint(uri, options);
  const reader = ck.weights ?? ck.adapter!.weights;
  const out = new Map<string, { dtype: DType; shape: number[]; values: number[] }>();
  for (const name of reader.names()) {
    const t = await reader.readTensor(name);
    const values = isFloatDType(t.dtype)
      ? Array.from(decodeToFloat32(t.data, t.dtype))
      : t.dtype === "I64"
        ? Array.from(new BigInt64Array(t.data.slice().buffer), Number)
        : Array.from(t.data);
    out.set(name, { dtype: t.dtype, shape: t.shape, values });
  }
  return out;
}
