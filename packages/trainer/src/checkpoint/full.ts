/**
 * A complete Hugging Face checkpoint after full or select training: every tensor of the source, the trained
 * ones from their f32 masters and the rest copied byte for byte. Stored in the source's dtype by default (a
 * bf16 tensor is the master rounded to nearest, ties to even), or all floats in f32. Sharded as
 * save_pretrained shards, above `maxShardBytes`. Tied embeddings are written once, as transformers does.
 */
import {
  bytesOf,
  type Checkpoint,
  CONFIG_FILE,
  type DType,
  decodeToFloat32,
  encodeFromFloat32,
  FormatError,
  isFloatDType,
  joinSource,
  ShardedWeightsWriter,
  type Store,
  type TensorSpec,
} from "@lethe/core";
import { LM_HEAD_WEIGHT, parseConfig } from "@lethe/model";
import { checkTensor, sameShape } from "./tensors.js";
import type { TrainedTensor } from "./types.js";

export type WeightsDtype = "source" | "F32";

export interface FullWeightsOptions {
  dtype: WeightsDtype;
  maxShardBytes: number;
}

interface PlannedTensor extends TensorSpec {
  sourceDtype: DType;
  trained: TrainedTensor | null;
}

/** Writes config.json and the weights; returns the trained tensors the weights do not hold as f32. */
export async function writeFullWeights(
  store: Store,
  source: Checkpoint,
  params: readonly TrainedTensor[],
  options: FullWeightsOptions,
): Promise<TrainedTensor[]> {
  const plan = await planTensors(source, params, options.dtype);
  const weights = ShardedWeightsWriter.create(store, plan, {
    maxShardBytes: options.maxShardBytes,
    metadata: { format: "pt" },
  });
  const byName = new Map(plan.map((t) => [t.name, t]));
  const reader = source.weights!;
  try {
    for (const name of weights.order) {
      const t = byName.get(name)!;
      if (t.trained) {
        checkTensor(t.trained, joinSource(store.uri, name));
        const f32 = t.trained.value;
        await weights.writeTensor(
          name,
          t.dtype === "F32" ? bytesOf(f32) : encodeFromFloat32(f32, t.dtype as "BF16" | "F16" | "F64"),
        );
      } else if (t.dtype === t.sourceDtype) {
        await weights.writeTensor(name, await reader.readBytes(name));
      } else {
        const values = decodeToFloat32(await reader.readBytes(name), t.sourceDtype as "BF16" | "F16");
        await weights.writeTensor(name, bytesOf(values));
      }
    }
    await weights.finish();
  } catch (err) {
    await weights.abort();
    throw err;
  }
  await writeConfig(store, source, options.dtype === "F32" && plan.some((t) => t.sourceDtype !== t.dtype));
  return plan.filter((t) => t.trained && t.dtype !== "F32").map((t) => t.trained!);
}

async function planTensors(
  source: Checkpoint,
  params: readonly TrainedTensor[],
  dtype: WeightsDtype,
): Promise<PlannedTensor[]> {
  if (!source.config) throw new FormatError(`${source.uri}: the source checkpoint has no ${CONFIG_FILE}`);
  if (!source.weights) throw new FormatError(`${source.uri}: the source checkpoint has no weights`);
  const config = parseConfig(source.config, joinSource(source.uri, CONFIG_FILE));
  const names = source.weights.names().filter((n) => !(config.tieWordEmbeddings && n === LM_HEAD_WEIGHT));
  const trained = new Map(params.map((p) => [p.name, p]));
  for (const p of params) {
    if (!names.includes(p.name)) {
      throw new FormatError(
        `trained parameter "${p.name}" is not a tensor of the source checkpoint ${source.uri}` +
          `${config.tieWordEmbeddings && p.name === LM_HEAD_WEIGHT ? " (its embeddings are tied: train model.embed_tokens.weight)" : ""}`,
      );
    }
  }
  const plan: PlannedTensor[] = [];
  for (const name of names) {
    const entry = await source.weights.entry(name);
    const p = trained.get(name) ?? null;
    if (p && !sameShape(p.shape, entry.shape)) {
      throw new FormatError(
        `trained parameter "${name}" has shape [${p.shape}], the source ${source.uri} has [${entry.shape}]`,
      );
    }
    if (p && !isFloatDType(entry.dtype)) {
      throw new FormatError(`${source.uri}: trained tensor "${name}" is ${entry.dtype}, not a float type`);
    }
    const narrow = entry.dtype === "BF16" || entry.dtype === "F16";
    const out: DType = dtype === "F32" && narrow ? "F32" : entry.dtype;
    plan.push({ name, shape: [...entry.shape], dtype: out, sourceDtype: entry.dtype, trained: p });
  }
  return plan;
}

/** config.json as the source has it; with f32 weights from a narrower source, its dtype says float32. */
async function writeConfig(store: Store, source: Checkpoint, widened: boolean): Promise<void> {
  if (!widened) {
    await store.put(CONFIG_FILE, await source.store.get(CONFIG_FILE));
    return;
  }
  const config: Record<string, unknown> = { ...source.config };
  if ("dtype" in config) config.dtype = "float32";
  if ("torch_dtype" in config || !("dtype" in config)) config.torch_dtype = "float32";
  await store.put(CONFIG_FILE, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`));
}
