/**
 * Merging PEFT LoRA adapters (models listed as adapter directories, base_model = the model they adapt).
 *
 * - "factorwise" (default; what the SemEval-2025 ZJU system ran, PEFT `add_weighted_adapter(...,
 *   combination_type="ties")`): the method runs on the stacked A factors and, separately, on the B
 *   factors, with factor weights sign(w·s)·√|w·s| for A and √|w·s| for B (s = the adapter's scaling).
 *   The result is a rank-r adapter with lora_alpha = r, or with `fold` the base with s'·B·A added.
 *   TIES on A and B separately is not TIES on B·A: a heuristic, reproduced because it is what was run.
 * - "delta" (exact): the method runs on each module's full update ΔW_i = s_i·B_i·A_i, as if merging the
 *   fine-tuned models W + ΔW_i; written as a full model, or with `loraRank` r' truncated back to a rank-r'
 *   adapter by SVD (PEFT's `ties_svd`, without PEFT's second application of the scaling to the weights).
 */
import {
  decodeToFloat32,
  encodeFromFloat32,
  type FloatDType,
  isFloatDType,
  type JsonObject,
  type ShardedWeightsWriter,
} from "@lethe/core";
import { gradientT, layerCount, layerIndexOf, resolveParameter } from "../config/resolve.js";
import { ConfigError, type MergeConfig, referenceString, sameReference } from "../config/schema.js";
import { mergeGtaTensor } from "../engine/gta-tensor.js";
import { type BlockRunner, BufferScope } from "../engine/runner.js";
import { gtaJob, shapeNumel } from "../engine/tensor-job.js";
import type { RawTensor } from "../kernels/decode.js";
import { bytesOf } from "../load-tensor.js";
import {
  type MergeOptions,
  type MergeResult,
  type OpenedInputs,
  resolveSemantics,
} from "../merge-options.js";
import {
  type MergePlan,
  methodOf,
  type PlannedInput,
  type PlannedParameters,
  type PlannedTensor,
  resolveModelParameters,
} from "../plan.js";
import { publish } from "../publish.js";
import type { StatsCollector } from "../stats.js";
import type { WorkingDType } from "../working-dtype.js";
import { deltaWeight, type LoraAdapter, type LoraModule, readFactor, targetShape } from "./adapter.js";
import { truncatedSvd } from "./svd.js";

export type LoraMode = "factorwise" | "delta";

export interface LoraPlan {
  plan: MergePlan;
  mode: LoraMode;
  /** Writes a full model (fold or delta) rather than an adapter. */
  fullModel: boolean;
  rank: number | null;
  adapters: {
    source: number;
    index: number;
    adapter: LoraAdapter;
    label: string;
    parameters: MergeConfig["models"][number]["parameters"];
  }[];
  /** Module target weight name → modules of each adapter (null where an adapter lacks it). */
  modules: Map<string, (LoraModule | null)[]>;
  /** The new adapter's config (adapter outputs). */
  adapterConfig: JsonObject | null;
}

function working(config: MergeConfig, dtype: FloatDType): WorkingDType {
  const d = config.dtype ?? dtype;
  return d === "F64" ? "F32" : d;
}

export async function planLoraMerge(
  config: MergeConfig,
  inputs: OpenedInputs,
  options: MergeOptions,
): Promise<LoraPlan> {
  const method = methodOf(config);
  if (method.family !== "gta") {
    throw new ConfigError(
      `merge_method: ${method.name} cannot merge LoRA adapters; use task_arithmetic (PEFT's "linear"), ties, dare_ties, ...`,
    );
  }
  const semantics = resolveSemantics(options, true);
  const mode: LoraMode = options.lora ?? "factorwise";
  const base = inputs.baseSource === null ? null : inputs.sources[inputs.baseSource]!;
  if (base && base.kind !== "model")
    throw new ConfigError(
      `base_model: ${base.label} is an adapter; it must be the model the adapters were trained on`,
    );
  const fullModel = mode === "delta" ? options.loraRank === undefined : options.fold === true;
  if (fullModel && !base)
    throw new ConfigError("base_model: required to write a full model from LoRA adapters");
  if (mode === "factorwise" && options.loraRank !== undefined)
    throw new ConfigError("--lora-rank applies to --lora delta only");

  const adapters: LoraPlan["adapters"] = [];
  config.models.forEach((m, index) => {
    if (sameReference(m.model, config.baseModel)) return;
    const source = inputs.sources[inputs.modelSources[index]!]!;
    if (source.kind !== "adapter" || !source.adapter) {
      throw new ConfigError(
        `models.${index}: ${source.label} is a full model, but other inputs are LoRA adapters; fold an adapter into its model with the MODEL+LORA form instead`,
      );
    }
    adapters.push({
      source: inputs.modelSources[index]!,
      index,
      adapter: source.adapter,
      label: referenceString(m.model),
      parameters: m.parameters,
    });
  });
  if (adapters.length === 0) throw new ConfigError("models: no adapters to merge");

  const modules = new Map<string, (LoraModule | null)[]>();
  for (const [k, a] of adapters.entries()) {
    for (const [target, m] of a.adapter.modules) {
      if (!modules.has(target))
        modules.set(
          target,
          adapters.map(() => null),
        );
      modules.get(target)![k] = m;
    }
  }
  for (const [target, ms] of modules) {
    const present = ms.filter((m): m is LoraModule => m !== null);
    const shape = targetShape(present[0]!).join();
    if (present.some((m) => targetShape(m).join() !== shape))
      throw new ConfigError(`${target}: the adapters update it with different shapes`);
    if (mode === "factorwise" && present.some((m) => m.rank !== present[0]!.rank)) {
      throw new ConfigError(
        `${target}: factor-wise merging needs one rank, the adapters have ${present.map((m) => m.rank).join(", ")} (use --lora delta)`,
      );
    }
    if (base) {
      const info = base.tensors.get(target);
      if (!info)
        throw new ConfigError(`${target}: updated by the adapters but not in the base ${base.label}`);
      if (info.shape.join() !== shape)
        throw new ConfigError(
          `${target}: the adapters' update is [${shape}], the base's weight [${info.shape}]`,
        );
    }
  }

  const names = base ? [...base.tensors.keys()] : [...modules.keys()];
  const layers = layerCount(base?.config ?? null, names);
  const tensors: PlannedTensor[] = [];
  const global = (tensor: string, t: number) => {
    const get = (name: string) =>
      resolveParameter(
        method.globalParameters.find((g) => g.name === name)!,
        { tensor, t, global: config.parameters },
        false,
      )!.value;
    return {
      normalize: get("normalize") as boolean,
      rescale: get("rescale") as boolean,
      lambda: get("lambda") as number,
    };
  };
  const parametersFor = (a: LoraPlan["adapters"][number], tensor: string, t: number): PlannedParameters =>
    resolveModelParameters(method, semantics, config, a, tensor, t);
  const adapterInputs = (target: string, factor: "A" | "B" | null, t: number): PlannedInput[] =>
    modules.get(target)!.flatMap((m, k) => {
      if (!m) return [];
      const a = adapters[k]!;
      const name = factor === "A" ? m.aKey : factor === "B" ? m.bKey : target;
      const shape = factor === "A" ? m.aShape : factor === "B" ? m.bShape : targetShape(m);
      return [
        {
          source: a.source,
          name,
          dtype: factor ? m.dtype : "F32",
          shape: [...shape],
          parameters: parametersFor(a, target, t),
          resized: false,
        },
      ];
    });

  let adapterConfig: JsonObject | null = null;
  if (!fullModel) {
    const first = adapters[0]!.adapter;
    const rank = mode === "delta" ? options.loraRank! : [...first.modules.values()][0]!.rank;
    const targetModules = [
      ...new Set(
        [...modules.values()].flatMap((ms) => ms.filter((m) => m).map((m) => m!.module.split(".").pop()!)),
      ),
    ].sort();
    adapterConfig = {
      ...first.config,
      r: rank,
      lora_alpha: rank,
      target_modules: targetModules,
      rank_pattern: {},
      alpha_pattern: {},
      base_model_name_or_path: config.baseModel
        ? referenceString(config.baseModel)
        : (first.config["base_model_name_or_path"] ?? null),
    };
    for (const target of [...modules.keys()].sort()) {
      const ms = modules.get(target)!;
      const m = ms.find((x) => x !== null)!;
      const layer = layerIndexOf(target);
      const t = gradientT(layer, layers);
      const outDtype = config.outDtype ?? m.dtype;
      const w = working(config, mode === "delta" ? "F32" : m.dtype);
      const notes =
        mode === "factorwise"
          ? ["factor weights: sign(w·s)·√|w·s| for A, √|w·s| for B"]
          : [`ΔW merged, truncated by SVD to rank ${rank}`];
      for (const factor of ["A", "B"] as const) {
        const name = factor === "A" ? m.aKey : m.bKey;
        const shape =
          mode === "delta"
            ? factor === "A"
              ? [rank, m.aShape[1]!]
              : [m.bShape[0]!, rank]
            : factor === "A"
              ? m.aShape
              : m.bShape;
        tensors.push({
          name,
          shape: [...shape],
          dtype: outDtype,
          action: "merge",
          working: w,
          layer,
          t,
          base: null,
          inputs: adapterInputs(target, mode === "delta" ? null : factor, t),
          skipped: adapters.flatMap((a, k) =>
            ms[k] ? [] : [{ model: a.label, reason: "has no adapter for this module" }],
          ),
          global: global(target, t),
          notes,
        });
      }
    }
  } else {
    for (const name of [...names].sort()) {
      const info = base!.tensors.get(name)!;
      const layer = layerIndexOf(name);
      const t = gradientT(layer, layers);
      const baseInput: PlannedInput = {
        source: inputs.baseSource!,
        name,
        dtype: info.dtype,
        shape: [...info.shape],
        resized: false,
      };
      const float = isFloatDType(info.dtype);
      const w = float ? working(config, info.dtype as FloatDType) : null;
      const dtype = float ? (config.outDtype ?? w!) : info.dtype;
      if (!modules.has(name)) {
        tensors.push({
          name,
          shape: [...info.shape],
          dtype,
          action: "copy",
          working: w,
          layer,
          t,
          base: baseInput,
          inputs: [],
          skipped: [],
          global: global(name, t),
          notes: [],
        });
        continue;
      }
      const ms = modules.get(name)!;
      tensors.push({
        name,
        shape: [...info.shape],
        dtype,
        action: "merge",
        working: w,
        layer,
        t,
        base: baseInput,
        inputs: adapterInputs(name, null, t),
        skipped: adapters.flatMap((a, k) =>
          ms[k] ? [] : [{ model: a.label, reason: "has no adapter for this module" }],
        ),
        global: global(name, t),
        notes: [
          mode === "factorwise"
            ? "base + s'·B·A of the factor-wise merged adapter"
            : "base + merged ΔW = s·B·A of each adapter",
        ],
      });
    }
  }

  const largest = Math.max(0, ...tensors.map((t) => bytesOf(t.dtype, t.shape) * 2));
  const plan: MergePlan = {
    method,
    semantics,
    coverage: options.coverage ?? "strict",
    seed: options.seed ?? 0,
    sources: inputs.sources.map((s, i) => ({
      label: s.label,
      uri: s.uri,
      roles: [
        ...(i === inputs.baseSource ? ["base"] : []),
        ...adapters.filter((a) => a.source === i).map((a) => `models.${a.index}`),
      ],
    })),
    baseSource: inputs.baseSource,
    layers,
    tensors,
    dropped: [],
    warnings: [],
    torchDtype: config.outDtype ?? config.dtype ?? null,
    memory: { largestTensorBytes: largest, budgetBytes: (adapters.length + 3) * largest },
  };
  return {
    plan,
    mode,
    fullModel,
    rank: mode === "delta" && !fullModel ? options.loraRank! : null,
    adapters,
    modules,
    adapterConfig,
  };
}

function shared(scope: BufferScope, values: Float32Array): RawTensor {
  const bytes = scope.allocate(values.byteLength);
  new Float32Array(bytes.buffer, bytes.byteOffset, values.length).set(values);
  return { dtype: "F32", bytes };
}

/** sign(w·s)·√|w·s| for A, √|w·s| for B (PEFT, so negative weights flip the update once). */
function factorWeight(weight: number, scaling: number, factor: "A" | "B"): number {
  const ws = weight * scaling;
  const root = Math.sqrt(Math.abs(ws));
  return factor === "A" && ws < 0 ? -root : root;
}

export async function mergeLoraAdapters(
  config: MergeConfig,
  inputs: OpenedInputs,
  outUri: string,
  runner: BlockRunner,
  options: MergeOptions,
  started: number,
): Promise<MergeResult> {
  const lp = await planLoraMerge(config, inputs, options);
  // Buffers of the tensor being computed, given back once it is written.
  const scope = new BufferScope(runner);
  const { plan } = lp;
  const base = inputs.baseSource === null ? null : inputs.sources[inputs.baseSource]!;
  const labels = lp.adapters.map((a) => a.label);

  /** Merge one factor (A or B) of a module across the adapters that have it, in f32 or W. */
  const mergeFactor = async (
    target: string,
    factor: "A" | "B",
    t: PlannedTensor | null,
    outDtype: FloatDType,
    collector: StatsCollector,
  ) => {
    const ms = lp.modules.get(target)!;
    const present = ms.flatMap((m, k) => (m ? [{ m, k }] : []));
    const first = present[0]!.m;
    const shape = factor === "A" ? first.aShape : first.bShape;
    const layer = layerIndexOf(target);
    const planned = t ?? plan.tensors.find((x) => x.name === target)!;
    const raws = await Promise.all(
      present.map(({ m, k }) =>
        readFactor(lp.adapters[k]!.adapter, factor === "A" ? m.aKey : m.bKey).then((v) => shared(scope, v)),
      ),
    );
    const params = planned.inputs.map((input, i) => ({
      ...input.parameters!,
      weight: factorWeight(input.parameters!.weight, present[i]!.m.scaling, factor),
    }));
    const out = scope.allocate(bytesOf(outDtype, shape));
    const job = gtaJob(
      {
        method: plan.method,
        semantics: plan.semantics,
        // The factors' own dtype (not the base weight's, when folding).
        working: working(config, first.dtype),
        outDtype,
        tensor: `${target}:lora_${factor}`,
        shape,
        models: params,
        normalize: planned.global.normalize,
        rescale: planned.global.rescale,
        lambda: planned.global.lambda,
        seed: plan.seed,
        inputsAreDeltas: true,
        addBase: false,
      },
      { base: null, models: raws },
    );
    const stats = await mergeGtaTensor(job, runner, out);
    collector.add(
      layer,
      present.map(({ k }) => labels[k]!),
      stats,
    );
    return out;
  };

  /** Merge the full ΔW of a module: added to the base (full model) or alone in f32 (for the SVD). */
  const mergeDelta = async (
    t: PlannedTensor,
    target: string,
    withBase: boolean,
    collector: StatsCollector,
  ) => {
    const ms = lp.modules.get(target)!;
    const present = ms.flatMap((m, k) => (m ? [{ m, k }] : []));
    const deltas = await Promise.all(
      present.map(async ({ m, k }) => {
        const a = lp.adapters[k]!.adapter;
        return shared(scope, deltaWeight(m, await readFactor(a, m.aKey), await readFactor(a, m.bKey)));
      }),
    );
    const shape = targetShape(present[0]!.m);
    let baseRaw: RawTensor | null = null;
    if (withBase) {
      const info = base!.tensors.get(target)!;
      const bytes = scope.allocate(bytesOf(info.dtype, info.shape));
      await base!.readInto(target, bytes);
      baseRaw = { dtype: info.dtype as FloatDType, bytes };
    }
    const outDtype: FloatDType = withBase ? (t.dtype as FloatDType) : "F32";
    const out = scope.allocate(bytesOf(outDtype, shape));
    const job = gtaJob(
      {
        method: plan.method,
        semantics: plan.semantics,
        working: withBase ? t.working! : working(config, "F32"),
        outDtype,
        tensor: target,
        shape,
        models: t.inputs.map((i) => ({ ...i.parameters! })),
        normalize: t.global.normalize,
        rescale: t.global.rescale,
        lambda: t.global.lambda,
        seed: plan.seed,
        inputsAreDeltas: true,
        addBase: withBase,
      },
      { base: baseRaw, models: deltas },
    );
    const stats = await mergeGtaTensor(job, runner, out);
    collector.add(
      t.layer,
      present.map(({ k }) => labels[k]!),
      stats,
    );
    return out;
  };

  const copyBase = async (t: PlannedTensor): Promise<Uint8Array> => {
    const info = base!.tensors.get(t.name)!;
    const bytes = scope.allocate(bytesOf(info.dtype, info.shape));
    await base!.readInto(t.name, bytes);
    if (!isFloatDType(info.dtype) || info.dtype === t.dtype) return bytes;
    return encodeFromFloat32(decodeToFloat32(bytes, info.dtype), t.dtype as FloatDType);
  };

  const writeWeights = async (weights: ShardedWeightsWriter, collector: StatsCollector) => {
    const byName = new Map(plan.tensors.map((t) => [t.name, t]));
    // Adapter outputs: both factors of a module come out of one computation (SVD) or two merges.
    const svdCache = new Map<string, { a: Uint8Array; b: Uint8Array }>();
    for (const name of weights.order) {
      const t = byName.get(name)!;
      let out: Uint8Array;
      if (!lp.fullModel) {
        const target = [...lp.modules.keys()].find((k) =>
          lp.modules.get(k)!.some((m) => m && (m.aKey === name || m.bKey === name)),
        )!;
        const isA = lp.modules.get(target)!.some((m) => m?.aKey === name);
        if (lp.mode === "factorwise")
          out = await mergeFactor(target, isA ? "A" : "B", t, t.dtype as FloatDType, collector);
        else {
          let pair = svdCache.get(target);
          if (!pair) {
            pair = await svdFactors(t, target, await mergeDelta(t, target, false, collector));
            svdCache.set(target, pair);
          }
          out = isA ? pair.a : pair.b;
        }
      } else if (t.action === "copy") {
        out = await copyBase(t);
        collector.addCopied();
      } else if (lp.mode === "delta") {
        out = await mergeDelta(t, name, true, collector);
      } else {
        out = await foldFactorwise(t, collector);
      }
      await weights.writeTensor(name, out);
      scope.releaseAll();
    }
  };

  const svdFactors = async (t: PlannedTensor, target: string, merged: Uint8Array) => {
    const m = lp.modules.get(target)!.find((x) => x !== null)!;
    const [outer, inner] = [m.bShape[0]!, m.aShape[1]!];
    const values = new Float32Array(merged.buffer, merged.byteOffset, outer * inner);
    // The SVD runs on the B·A orientation: transpose ΔW back for embeddings and fan_in_fan_out layers.
    const matrix = new Float64Array(outer * inner);
    for (let i = 0; i < outer; i++) {
      for (let j = 0; j < inner; j++)
        matrix[i * inner + j] = m.transposed ? values[j * outer + i]! : values[i * inner + j]!;
    }
    const rank = lp.rank!;
    const svd = truncatedSvd(matrix, outer, inner, rank, { seed: plan.seed });
    const b = new Float32Array(outer * rank);
    const a = new Float32Array(rank * inner);
    for (let i = 0; i < outer; i++)
      for (let r = 0; r < svd.k; r++) b[i * rank + r] = svd.u[i * svd.k + r]! * svd.s[r]!;
    for (let r = 0; r < svd.k; r++) for (let j = 0; j < inner; j++) a[r * inner + j] = svd.vt[r * inner + j]!;
    return { a: encodeFromFloat32(a, t.dtype as FloatDType), b: encodeFromFloat32(b, t.dtype as FloatDType) };
  };

  const foldFactorwise = async (t: PlannedTensor, collector: StatsCollector): Promise<Uint8Array> => {
    const ms = lp.modules.get(t.name)!;
    const m = ms.find((x) => x !== null)!;
    const a = await mergeFactor(t.name, "A", t, "F32", collector);
    const b = await mergeFactor(t.name, "B", t, "F32", collector);
    // The merged adapter has lora_alpha = r: scaling 1, or √r with rsLoRA (the first adapter's setting).
    const scaling = lp.adapters[0]!.adapter.useRslora ? m.rank / Math.sqrt(m.rank) : 1;
    const delta = deltaWeight(
      m,
      new Float32Array(a.buffer, a.byteOffset, shapeNumel(m.aShape)),
      new Float32Array(b.buffer, b.byteOffset, shapeNumel(m.bShape)),
      scaling,
    );
    const info = base!.tensors.get(t.name)!;
    const bytes = scope.allocate(bytesOf(info.dtype, info.shape));
    await base!.readInto(t.name, bytes);
    const w = decodeToFloat32(bytes, info.dtype as FloatDType);
    const sum = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) sum[i] = w[i]! + delta[i]!;
    return encodeFromFloat32(sum, t.dtype as FloatDType);
  };

  for (const w of plan.warnings) options.log?.(`warning: ${w}`);
  return publish(plan, inputs.sources, outUri, options, started, writeWeights, {
    ...(lp.fullModel
      ? {}
      : {
          weightsFile: "adapter_model.safetensors",
          extraJson: { "adapter_config.json": lp.adapterConfig },
          modelConfig: false,
          kind:
            lp.mode === "factorwise"
              ? "The result is a LoRA adapter (factor-wise merge of the adapters' A and B)."
              : `The result is a rank-${lp.rank} LoRA adapter (SVD of the merged ΔW).`,
        }),
  });
}
