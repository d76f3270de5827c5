/**
 * Where a training checkpoint came from, as `lethe.json` records it: parents (the base model, the starting
 * adapter, the data files) and parameters (mode, the resolved config, the data files' sha256, the LoRA
 * settings, the weights' dtype, the trained tensors and, when resumable, the progress).
 */
import { type Checkpoint, FormatError, hashObject, openStore, type StoreOptions } from "@lethe/core";
import type { TrainConfig } from "../config/index.js";
import type { WeightsDtype } from "./full.js";
import type { DataFile, LoraSettings, ParamMode, TrainerProgress } from "./types.js";

export interface HashedDataFile extends DataFile {
  sha256: string;
}

/** sha256 of each data file that lacks one, streamed from its store (a path, file:// or s3://). */
export async function hashDataFiles(
  files: readonly DataFile[],
  store: StoreOptions = {},
): Promise<HashedDataFile[]> {
  const out: HashedDataFile[] = [];
  for (const f of files) {
    if (f.sha256 !== undefined) {
      if (!/^[0-9a-f]{64}$/.test(f.sha256))
        throw new FormatError(`data file ${f.uri} (${f.role}): sha256 must be 64 lowercase hex digits`);
      out.push({ ...f, sha256: f.sha256 });
      continue;
    }
    const cut = f.uri.lastIndexOf("/");
    const dir = cut <= 0 ? "." : f.uri.slice(0, cut);
    const key = f.uri.slice(cut + 1);
    if (key === "")
      throw new FormatError(`data file ${f.uri} (${f.role}): a file is needed, not a directory`);
    const { sha256 } = await hashObject(openStore(dir, store), key);
    out.push({ ...f, sha256 });
  }
  return out;
}

export interface ProvenanceInput {
  mode: ParamMode;
  source: Checkpoint;
  adapter: string | null;
  data: readonly HashedDataFile[];
  config: TrainConfig;
  lora: LoraSettings | null;
  weightsDtype: WeightsDtype | "F32";
  trained: readonly string[];
  progress: TrainerProgress | null;
}

export function parentsOf(p: ProvenanceInput): string[] {
  return [p.source.uri, ...(p.adapter ? [p.adapter] : []), ...p.data.map((d) => d.uri)];
}

export function parametersOf(p: ProvenanceInput): Record<string, unknown> {
  return {
    mode: p.mode,
    base: { uri: p.source.uri, id: p.source.manifest?.id ?? null },
    adapter: p.adapter,
    data: p.data.map((d) => ({ role: d.role, uri: d.uri, sha256: d.sha256 })),
    lora: p.lora
      ? {
          r: p.lora.r,
          alpha: p.lora.alpha,
          dropout: p.lora.dropout,
          target_modules: [...p.lora.target_modules],
          rslora: p.lora.rslora ?? false,
          layers: p.lora.layers ? [...p.lora.layers] : null,
        }
      : null,
    weightsDtype: p.weightsDtype,
    trained: [...p.trained],
    resume: p.progress
      ? { epoch: p.progress.epoch, step: p.progress.step, examplesSeen: p.progress.examplesSeen }
      : null,
    config: p.config,
  };
}
