import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  CheckpointWriter,
  corpusText,
  encodeFromFloat32,
  openCheckpoint,
  ShardedWeightsWriter,
  type SynthDataset,
  synthesize,
  tensorToFloat32,
  writeSynthDataset,
} from "@lethe/core";
import { createTinyModel } from "@lethe/model";
import { afterAll } from "vitest";

/** A temporary directory removed after the file's tests. */
export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `lethe-eval-${label}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TinySetup {
  dir: string;
  dataset: SynthDataset;
  data: string;
  base: string;
}

/** The synthetic tiny dataset written to `<dir>/data` and a 2-layer OLMo-style model trained-tokenizer at `<dir>/base`. */
export async function tinySetup(dir: string, seed = 5): Promise<TinySetup> {
  const dataset = synthesize({ seed, size: "tiny" });
  const data = path.join(dir, "data");
  await writeSynthDataset(data, dataset);
  const base = path.join(dir, "base");
  await createTinyModel(base, {
    arch: "olmo",
    layers: 2,
    hidden: 32,
    heads: 4,
    intermediate: 64,
    vocabFrom: corpusText(dataset),
    vocabSize: 300,
    seed,
  });
  return { dir, dataset, data, base };
}

/** A copy of checkpoint `from` at `to` with some tensors replaced by `edit(name, values)` (others unchanged). */
export async function editedCheckpoint(
  from: string,
  to: string,
  edit: (name: string, values: Float32Array) => Float32Array | undefined,
): Promise<void> {
  const source = await openCheckpoint(from);
  const weights = source.weights!;
  const writer = await CheckpointWriter.begin(to, { stage: "test-edit", parents: [from] });
  const specs = [];
  for (const name of weights.names()) {
    const entry = await weights.entry(name);
    specs.push({ name, dtype: entry.dtype, shape: entry.shape });
  }
  const out = ShardedWeightsWriter.create(writer.store, specs);
  for (const name of out.order) {
    const tensor = await weights.readTensor(name);
    const edited = edit(name, tensorToFloat32(tensor));
    await out.writeTensor(name, edited === undefined ? tensor.data : encodeFromFloat32(edited, tensor.dtype));
  }
  await out.finish();
  for (const key of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]) {
    if (await source.store.head(key)) await writer.copyFrom(source.store, key);
  }
  await writer.commit();
  weights.close();
}

/** A PEFT LoRA adapter checkpoint at `to` with one module (`model.layers.L.<linear>`): A [r, in], B [out, r]. */
export async function adapterCheckpoint(
  to: string,
  module: string,
  a: Float32Array,
  b: Float32Array,
  shape: { rank: number; inFeatures: number; outFeatures: number; alpha: number },
): Promise<void> {
  const writer = await CheckpointWriter.begin(to, { stage: "test-adapter" });
  const names = [`base_model.model.${module}.lora_A.weight`, `base_model.model.${module}.lora_B.weight`];
  const out = ShardedWeightsWriter.create(
    writer.store,
    [
      { name: names[0]!, dtype: "F32", shape: [shape.rank, shape.inFeatures] },
      { name: names[1]!, dtype: "F32", shape: [shape.outFeatures, shape.rank] },
    ],
    { singleFile: "adapter_model.safetensors" },
  );
  for (const name of out.order)
    await out.writeTensor(name, encodeFromFloat32(name === names[0] ? a : b, "F32"));
  await out.finish();
  await writer.putJson("adapter_config.json", {
    peft_type: "LORA",
    r: shape.rank,
    lora_alpha: shape.alpha,
    target_modules: [module.split(".").at(-1)],
    bias: "none",
  });
  await writer.commit();
}
