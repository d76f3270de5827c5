/**
 * A PEFT LoRA adapter: `adapter_config.json` + `adapter_model.safetensors`, seen as a set of modules, each
 * with factors A [r, in] and B [out, r] and a scaling s = α / r (α / √r with rsLoRA), so that the module's
 * weight becomes W + ΔW with ΔW = s·B·A (transposed for embeddings and fan_in_fan_out layers, as PEFT's
 * `get_delta_weight`). `rank_pattern` / `alpha_pattern` override r and α per module.
 */
import {
  type Checkpoint,
  decodeToFloat32,
  type FloatDType,
  FormatError,
  isFloatDType,
  type JsonObject,
  type WeightsReader,
} from "@lethe/core";

export interface LoraModule {
  /** The base weight the module updates, e.g. "model.layers.0.self_attn.q_proj.weight". */
  target: string;
  /** Module path, e.g. "model.layers.0.self_attn.q_proj". */
  module: string;
  aKey: string;
  bKey: string;
  rank: number;
  alpha: number;
  scaling: number;
  /** ΔW = (B·A)ᵀ: embeddings and fan_in_fan_out (GPT-2 Conv1D) layers. */
  transposed: boolean;
  embedding: boolean;
  aShape: number[];
  bShape: number[];
  dtype: FloatDType;
}

export interface LoraAdapter {
  uri: string;
  config: JsonObject;
  weights: WeightsReader;
  modules: Map<string, LoraModule>;
  useRslora: boolean;
}

const PREFIX = "base_model.model.";

function patternValue(patterns: unknown, module: string): number | undefined {
  if (typeof patterns !== "object" || patterns === null) return undefined;
  for (const [pattern, value] of Object.entries(patterns as Record<string, unknown>)) {
    if (typeof value !== "number") continue;
    let re: RegExp;
    try {
      re = new RegExp(`^(?:.*\\.)?(?:${pattern})$`);
    } catch {
      if (module === pattern || module.endsWith(`.${pattern}`)) return value;
      continue;
    }
    if (re.test(module)) return value;
  }
  return undefined;
}

export async function openAdapter(checkpoint: Checkpoint): Promise<LoraAdapter> {
  const adapter = checkpoint.adapter;
  if (!adapter) throw new FormatError(`${checkpoint.uri}: not a LoRA adapter (no adapter_config.json)`);
  const { config, weights } = adapter;
  const where = `${checkpoint.uri}/adapter_config.json`;
  const peftType = config["peft_type"];
  if (peftType !== undefined && peftType !== "LORA") {
    throw new FormatError(`${where}: peft_type ${String(peftType)} is not supported (only LORA)`);
  }
  if (config["use_dora"] === true)
    throw new FormatError(`${where}: DoRA adapters (use_dora) are not supported`);
  const r = config["r"];
  const alpha = config["lora_alpha"];
  if (typeof r !== "number" || r <= 0) throw new FormatError(`${where}: "r" must be a positive number`);
  const defaultAlpha = typeof alpha === "number" ? alpha : r;
  const useRslora = config["use_rslora"] === true;
  const fanInFanOut = config["fan_in_fan_out"] === true;

  const modules = new Map<string, LoraModule>();
  const names = weights.names();
  for (const key of names) {
    const m = /^(.*)\.(lora_A|lora_embedding_A)(\.weight)?$/.exec(key);
    if (!m) {
      if (/\.(lora_B|lora_embedding_B)(\.weight)?$/.test(key)) continue;
      throw new FormatError(
        `${checkpoint.uri}: adapter tensor "${key}" is not a LoRA factor (modules_to_save, DoRA magnitudes and biases are not supported)`,
      );
    }
    const [, path, kind, suffix = ""] = m;
    const embedding = kind === "lora_embedding_A";
    const bKey = `${path}.${embedding ? "lora_embedding_B" : "lora_B"}${suffix}`;
    if (!weights.has(bKey)) throw new FormatError(`${checkpoint.uri}: "${key}" has no matching "${bKey}"`);
    const module = path!.startsWith(PREFIX) ? path!.slice(PREFIX.length) : path!;
    const a = await weights.entry(key);
    const b = await weights.entry(bKey);
    if (!isFloatDType(a.dtype) || !isFloatDType(b.dtype)) {
      throw new FormatError(
        `${checkpoint.uri}: LoRA factors of ${module} are ${a.dtype}/${b.dtype}, not floats`,
      );
    }
    const rank = patternValue(config["rank_pattern"], module) ?? r;
    const moduleAlpha = patternValue(config["alpha_pattern"], module) ?? defaultAlpha;
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== rank || b.shape[1] !== rank) {
      throw new FormatError(
        `${checkpoint.uri}: ${module}: factor shapes A [${a.shape}] and B [${b.shape}] do not match rank ${rank}`,
      );
    }
    modules.set(`${module}.weight`, {
      target: `${module}.weight`,
      module,
      aKey: key,
      bKey,
      rank,
      alpha: moduleAlpha,
      scaling: useRslora ? moduleAlpha / Math.sqrt(rank) : moduleAlpha / rank,
      transposed: embedding || fanInFanOut,
      embedding,
      aShape: [...a.shape],
      bShape: [...b.shape],
      dtype: a.dtype,
    });
  }
  if (modules.size === 0) throw new FormatError(`${checkpoint.uri}: the adapter has no LoRA factors`);
  return { uri: checkpoint.uri, config, weights, modules, useRslora };
}

/** The shape of the weight a module updates. */
export function targetShape(m: LoraModule): number[] {
  const out = m.bShape[0]!;
  const inner = m.aShape[1]!;
  return m.transposed ? [inner, out] : [out, inner];
}

export async function readFactor(adapter: LoraAdapter, key: string): Promise<Float32Array> {
  const t = await adapter.weights.readTensor(key);
  return decodeToFloat32(t.data, t.dtype as FloatDType);
}

/**
 * ΔW = s·B·A (or its transpose), accumulated in f64 and rounded to f32 once per element. PEFT computes the
 * product in the weight's dtype with BLAS, so results can differ from it in the last f32 bit.
 */
export function deltaWeight(
  m: LoraModule,
  a: Float32Array,
  b: Float32Array,
  scaling = m.scaling,
): Float32Array {
  const r = m.rank;
  const out = m.bShape[0]!;
  const inner = m.aShape[1]!;
  const delta = new Float32Array(out * inner);
  const row = new Float64Array(inner);
  for (let i = 0; i < out; i++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const bik = b[i * r + k]!;
      if (bik === 0) continue;
      const aRow = k * inner;
      for (let j = 0; j < inner; j++) row[j]! += bik * a[aRow + j]!;
    }
    if (m.transposed) for (let j = 0; j < inner; j++) delta[j * out + i] = row[j]! * scaling;
    else for (let j = 0; j < inner; j++) delta[i * inner + j] = row[j]! * scaling;
  }
  return delta;
}
