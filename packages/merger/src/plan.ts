/**
 * The merge plan: for every output tensor, which models take part with which parameters, and why any
 * model was left out. It is decided from the checkpoints' headers alone, so `--dry-run` prints exactly
 * what a merge will do. Policies (merging.md §1.7, §7):
 *
 * - tensors: the union of the inputs' tensor names (architecture-agnostic, like mergekit-pytorch). A
 *   tensor missing from a model is an error, unless `union` (that model is left out for that tensor)
 *   or `intersection` (the tensor is left out of the output);
 * - a missing tied `lm_head.weight` falls back to the model's input embedding;
 * - embeddings (embed_tokens, lm_head, wte, ...) of another size are cropped to the base's shape, or
 *   padded with the base's rows (a zero delta); for linear, every input is cropped to the common
 *   submatrix. Any other shape mismatch leaves that model out of that tensor, with a warning;
 * - tensors that are not floats (buffers, position ids) are copied from the base.
 */
import { type DType, type FloatDType, isFloatDType } from "@lethe/core";
import {
  gradientT,
  layerCount,
  layerIndexOf,
  type ParameterOrigin,
  resolveParameter,
} from "./config/resolve.js";
import {
  ConfigError,
  type MergeConfig,
  referenceString,
  sameReference,
  unknownKeyMessage,
} from "./config/schema.js";
import { arithmeticWeight } from "./engine/tensor-job.js";
import { linearWeightTotal } from "./kernels/linear.js";
import { bytesOf } from "./load-tensor.js";
import { MERGE_METHODS, mergeMethod } from "./methods/registry.js";
import type { MergeMethod } from "./methods/types.js";
import type { Semantics } from "./semantics.js";
import type { ModelSource, TensorInfo } from "./sources.js";
import type { WorkingDType } from "./working-dtype.js";

export type TensorCoverage = "strict" | "union" | "intersection";

export interface PlannedParameters {
  /** Position in the config's models list. */
  index: number;
  weight: number;
  density: number;
  gamma?: number;
  epsilon?: number;
  origins: Record<string, ParameterOrigin>;
}

export interface PlannedInput {
  /** Index into plan.sources. */
  source: number;
  /** Tensor name read from the source (a tied lm_head reads the input embedding). */
  name: string;
  dtype: DType;
  shape: number[];
  parameters?: PlannedParameters;
  /** The input is cropped and/or padded to the output shape (embeddings). */
  resized: boolean;
}

export interface PlannedTensor {
  name: string;
  shape: number[];
  /** Output dtype. */
  dtype: DType;
  action: "merge" | "copy";
  working: WorkingDType | null;
  layer: number | null;
  t: number;
  /** The base input (task arithmetic methods), or the copied input. */
  base: PlannedInput | null;
  /** Models merged (task arithmetic: the fine-tunes; linear: every participant). */
  inputs: PlannedInput[];
  skipped: { model: string; reason: string }[];
  global: { normalize: boolean; rescale: boolean; lambda: number };
  notes: string[];
}

export interface PlannedSource {
  label: string;
  uri: string;
  roles: string[];
}

export interface MergePlan {
  method: MergeMethod;
  semantics: Semantics;
  coverage: TensorCoverage;
  seed: number;
  sources: PlannedSource[];
  baseSource: number | null;
  layers: number;
  tensors: PlannedTensor[];
  /** Tensors left out of the output, and why. */
  dropped: { name: string; reason: string }[];
  warnings: string[];
  /** torch_dtype for config.json. */
  torchDtype: FloatDType | null;
  memory: { largestTensorBytes: number; budgetBytes: number };
}

const EMBEDDING =
  /(?:^|\.)(embed_tokens|lm_head|wte|word_embeddings|embed_in|embed_out|tok_embeddings|shared)\.weight$/;

export function isEmbedding(name: string): boolean {
  return EMBEDDING.test(name);
}

/** Output heads and the input embedding they are tied to, by architecture. */
const TIED: [string, string[]][] = [
  [
    "lm_head.weight",
    [
      "model.embed_tokens.weight",
      "transformer.wte.weight",
      "model.decoder.embed_tokens.weight",
      "embed_tokens.weight",
    ],
  ],
  ["embed_out.weight", ["gpt_neox.embed_in.weight"]],
];

function lookup(source: ModelSource, name: string): { name: string; info: TensorInfo; tied: boolean } | null {
  const info = source.tensors.get(name);
  if (info) return { name, info, tied: false };
  for (const [head, partners] of TIED) {
    if (name !== head) continue;
    for (const partner of partners) {
      const p = source.tensors.get(partner);
      if (p) return { name: partner, info: p, tied: true };
    }
  }
  return null;
}

function workingFor(config: MergeConfig, dtype: DType, notes: string[]): WorkingDType {
  const chosen = config.dtype ?? (isFloatDType(dtype) ? dtype : "F32");
  if (chosen === "F64") {
    notes.push("float64 is computed in float32");
    return "F32";
  }
  return chosen;
}

export interface PlanInputs {
  config: MergeConfig;
  semantics: Semantics;
  coverage: TensorCoverage;
  seed: number;
  /** One opened source per distinct reference: the base first (when set), then models in order. */
  sources: ModelSource[];
  /** For each config model, its index in `sources`. */
  modelSources: number[];
  baseSource: number | null;
}

export function methodOf(config: MergeConfig): MergeMethod {
  const method = mergeMethod(config.mergeMethod);
  if (!method) {
    throw new ConfigError(
      `merge_method: ${unknownKeyMessage(config.mergeMethod, [...MERGE_METHODS.keys()], "merge method")}`,
    );
  }
  return method;
}

export function planMergeFromSources(p: PlanInputs): MergePlan {
  const { config, semantics, sources } = p;
  const method = methodOf(config);
  const gta = method.family === "gta";
  if (gta && p.baseSource === null)
    throw new ConfigError(`base_model: required by merge_method ${method.name}`);
  const base = p.baseSource === null ? null : sources[p.baseSource]!;
  const warnings: string[] = [];
  const dropped: { name: string; reason: string }[] = [];
  const missing: string[] = [];

  // Which config models take part: for task arithmetic the base is not a task vector.
  const members = config.models
    .map((m, index) => ({
      index,
      ref: m.model,
      label: referenceString(m.model),
      source: p.modelSources[index]!,
      parameters: m.parameters,
    }))
    .filter((m) => !(gta && sameReference(m.ref, config.baseModel)));
  if (gta && members.length === 0)
    throw new ConfigError("models: lists only the base model; nothing to merge");

  const nameSources = gta ? [p.baseSource!, ...members.map((m) => m.source)] : members.map((m) => m.source);
  const names = new Set<string>();
  for (const s of nameSources) for (const name of sources[s]!.tensors.keys()) names.add(name);
  const layers = layerCount((base ?? sources[members[0]!.source]!).config, names);
  const methodDefaults = (name: string) => method.globalParameters.find((g) => g.name === name);

  const tensors: PlannedTensor[] = [];
  for (const name of [...names].sort()) {
    const layer = layerIndexOf(name);
    const t = gradientT(layer, layers);
    const notes: string[] = [];
    const skipped: { model: string; reason: string }[] = [];
    const globalOf = (key: string, fallback: number | boolean) => {
      const def = methodDefaults(key);
      if (!def) return fallback;
      return resolveParameter(def, { tensor: name, t, global: config.parameters }, false)?.value ?? fallback;
    };
    const global = {
      normalize: globalOf("normalize", false) as boolean,
      rescale: globalOf("rescale", false) as boolean,
      lambda: globalOf("lambda", 1) as number,
    };
    const resolveFor = (m: (typeof members)[number]): PlannedParameters =>
      resolveModelParameters(method, semantics, config, m, name, t);

    // The tensor as the base (task arithmetic) or the first participant (linear) has it.
    const anchorSource = gta ? p.baseSource! : members.find((m) => lookup(sources[m.source]!, name))?.source;
    const anchor = anchorSource === undefined ? null : lookup(sources[anchorSource]!, name);
    if (!anchor) {
      // Only possible for task arithmetic: the base lacks a tensor a model has.
      const where = `Tensor ${name} required but not present in model ${base!.label}`;
      if (p.coverage === "strict") missing.push(where);
      else if (p.coverage === "intersection")
        dropped.push({ name, reason: `not in the base ${base!.label}` });
      else {
        const donor = members.find((m) => lookup(sources[m.source]!, name))!;
        const found = lookup(sources[donor.source]!, name)!;
        tensors.push(
          copyPlan(name, donor.source, found, config, layer, t, global, [
            `not in the base: copied from ${donor.label}`,
          ]),
        );
        warnings.push(`${name}: not in the base; copied from ${donor.label} (--tensor-union)`);
      }
      continue;
    }
    if (anchor.tied && gta)
      notes.push(`${sources[anchorSource!]!.label} has no ${name}: using its tied ${anchor.name}`);
    if (!isFloatDType(anchor.info.dtype)) {
      tensors.push(
        copyPlan(name, anchorSource!, anchor, config, layer, t, global, [
          `${anchor.info.dtype} is not a float type: copied`,
        ]),
      );
      continue;
    }

    const inputs: PlannedInput[] = [];
    let drop = false;
    for (const m of members) {
      const src = sources[m.source]!;
      const found = lookup(src, name);
      if (!found) {
        if (p.coverage === "strict")
          missing.push(`Tensor ${name} required but not present in model ${m.label}`);
        else if (p.coverage === "intersection") drop = true;
        else skipped.push({ model: m.label, reason: "does not have this tensor (--tensor-union)" });
        continue;
      }
      if (found.tied) notes.push(`${m.label} has no ${name}: using its tied ${found.name}`);
      if (!isFloatDType(found.info.dtype)) {
        skipped.push({ model: m.label, reason: `${found.info.dtype} is not a float type` });
        continue;
      }
      let resized = false;
      if (found.info.shape.join() !== anchor.info.shape.join()) {
        if (isEmbedding(name) && found.info.shape.length === 2 && anchor.info.shape.length === 2)
          resized = true;
        else {
          const reason = `shape [${found.info.shape}] differs from ${gta ? "the base's" : `${sources[anchorSource!]!.label}'s`} [${anchor.info.shape}]`;
          skipped.push({ model: m.label, reason });
          warnings.push(`${name}: skipping ${m.label}: ${reason}`);
          continue;
        }
      }
      if (!gta && sameReference(m.ref, config.baseModel)) {
        const def = method.tensorParameters.find((d) => d.name === "weight")!;
        const hasWeight = resolveParameter(
          def,
          {
            tensor: name,
            t,
            model: { label: m.label, path: `models.${m.index}`, parameters: m.parameters },
            global: config.parameters,
          },
          false,
        );
        if (!hasWeight) {
          skipped.push({
            model: m.label,
            reason: "the base model has no weight: not part of the linear merge",
          });
          continue;
        }
      }
      inputs.push({
        source: m.source,
        name: found.name,
        dtype: found.info.dtype,
        shape: [...found.info.shape],
        parameters: resolveFor(m),
        resized,
      });
    }
    if (drop) {
      dropped.push({ name, reason: "missing from some models (--tensor-intersection)" });
      continue;
    }

    let shape = [...anchor.info.shape];
    if (!gta && isEmbedding(name) && shape.length === 2 && inputs.length > 0) {
      // Linear: the largest common submatrix of all inputs (mergekit rectify_embed_sizes).
      const rows = Math.min(...inputs.map((i) => i.shape[0]!));
      const cols = Math.min(...inputs.map((i) => i.shape[1]!));
      if (rows !== shape[0] || cols !== shape[1] || inputs.some((i) => i.resized))
        notes.push(`cropped to the common [${rows}, ${cols}]`);
      shape = [rows, cols];
      for (const input of inputs) input.resized = input.shape.join() !== shape.join();
    }
    for (const input of inputs) {
      if (input.resized) {
        const label = sources[input.source]!.label;
        const how =
          input.shape[0]! >= shape[0]! && input.shape[1]! >= shape[1]!
            ? "cropped"
            : "cropped/padded with the base's rows";
        notes.push(`${label}: [${input.shape}] ${how} to [${shape}]`);
        warnings.push(`${name}: ${label}'s [${input.shape}] ${how} to [${shape}]`);
      }
    }
    const working = workingFor(config, anchor.info.dtype, notes);
    const baseInput: PlannedInput | null = gta
      ? {
          source: p.baseSource!,
          name: anchor.name,
          dtype: anchor.info.dtype,
          shape: [...anchor.info.shape],
          resized: false,
        }
      : null;
    if (inputs.length === 0) {
      if (gta) {
        notes.push("no task vectors: the base is copied");
        tensors.push({ ...copyPlan(name, p.baseSource!, anchor, config, layer, t, global, notes), skipped });
      } else {
        missing.push(
          `${name}: no model can take part in the linear merge (${skipped.map((s) => `${s.model}: ${s.reason}`).join("; ")})`,
        );
      }
      continue;
    }
    if (!gta && global.normalize) {
      const total = linearWeightTotal({
        working,
        arithmetic: semantics.arithmetic,
        weights: inputs.map((i) => arithmeticWeight(semantics, working, i.parameters!.weight)),
      });
      if (total === 0)
        throw new ConfigError(`${name}: the weights sum to 0, so normalize: true divides by zero`);
    }
    tensors.push({
      name,
      shape,
      dtype: config.outDtype ?? working,
      action: "merge",
      working,
      layer,
      t,
      base: baseInput,
      inputs,
      skipped,
      global,
      notes,
    });
  }
  if (missing.length > 0) {
    const more = missing.length > 5 ? ` (and ${missing.length - 5} more)` : "";
    throw new ConfigError(
      `${missing.slice(0, 5).join("; ")}${more}. Use --tensor-union to merge what exists or --tensor-intersection to leave such tensors out`,
    );
  }
  for (const d of dropped) warnings.push(`${d.name}: left out: ${d.reason}`);

  const largest = Math.max(
    0,
    ...tensors.flatMap((t) =>
      [...(t.base ? [t.base] : []), ...t.inputs].map((i) => bytesOf(i.dtype, i.shape)),
    ),
    ...tensors.map((t) => bytesOf(t.dtype, t.shape)),
  );
  const models = new Set(
    tensors.flatMap((t) => [...(t.base ? [t.base.source] : []), ...t.inputs.map((i) => i.source)]),
  );
  const plannedSources: PlannedSource[] = sources.map((s, i) => ({
    label: s.label,
    uri: s.uri,
    roles: [
      ...(i === p.baseSource ? ["base"] : []),
      ...config.models.flatMap((_, k) =>
        p.modelSources[k] === i && !(gta && i === p.baseSource) ? [`models.${k}`] : [],
      ),
    ],
  }));
  return {
    method,
    semantics,
    coverage: p.coverage,
    seed: p.seed,
    sources: plannedSources,
    baseSource: p.baseSource,
    layers,
    tensors,
    dropped,
    warnings,
    torchDtype: config.outDtype ?? config.dtype ?? torchDtypeOf(base ?? sources[members[0]!.source]!),
    memory: { largestTensorBytes: largest, budgetBytes: (models.size + 3) * largest },
  };
}

function torchDtypeOf(source: ModelSource): FloatDType | null {
  const names: Record<string, FloatDType> = {
    bfloat16: "BF16",
    float16: "F16",
    float32: "F32",
    float64: "F64",
  };
  const declared = source.config?.["torch_dtype"] ?? source.config?.["dtype"];
  return typeof declared === "string" ? (names[declared] ?? null) : null;
}

function copyPlan(
  name: string,
  source: number,
  found: { name: string; info: TensorInfo },
  config: MergeConfig,
  layer: number | null,
  t: number,
  global: PlannedTensor["global"],
  notes: string[],
): PlannedTensor {
  const float = isFloatDType(found.info.dtype);
  const working = float ? workingFor(config, found.info.dtype, notes) : null;
  return {
    name,
    shape: [...found.info.shape],
    dtype: float ? (config.outDtype ?? working!) : found.info.dtype,
    action: "copy",
    working,
    layer,
    t,
    base: { source, name: found.name, dtype: found.info.dtype, shape: [...found.info.shape], resized: false },
    inputs: [],
    skipped: [],
    global,
    notes,
  };
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/** The plan as text: what `--dry-run` prints. */
export function formatPlan(plan: MergePlan): string {
  const lines: string[] = [];
  lines.push(
    `merge_method: ${plan.method.name} (${plan.method.prettyName}), semantics: ${plan.semantics.name}`,
  );
  lines.push(`tensor coverage: ${plan.coverage}, random seed: ${plan.seed}, layers: ${plan.layers}`);
  for (const s of plan.sources) lines.push(`  ${s.roles.join(", ") || "unused"}: ${s.label} (${s.uri})`);
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  lines.push(
    `largest tensor: ${mb(plan.memory.largestTensorBytes)}, memory budget for tensor data: ${mb(plan.memory.budgetBytes)} ((models + 3) × largest)`,
  );
  lines.push(
    `${plan.tensors.length} tensors${plan.dropped.length ? `, ${plan.dropped.length} left out` : ""}:`,
  );
  for (const t of plan.tensors) {
    const where = t.layer === null ? "outside the layers, t=0" : `layer ${t.layer}, t=${fmt(t.t)}`;
    const work = t.working ? `, working ${t.working}` : "";
    lines.push(`${t.name} [${t.shape}] → ${t.dtype}: ${t.action}${work} (${where})`);
    if (t.action === "merge" && plan.method.family === "gta") {
      const g = t.global;
      lines.push(`    normalize ${g.normalize}, rescale ${g.rescale}, lambda ${fmt(g.lambda)}`);
    }
    if (t.action === "copy" && t.base)
      lines.push(`    from ${plan.sources[t.base.source]!.label} (${t.base.name})`);
    for (const input of t.inputs) {
      const p = input.parameters!;
      const parts = [`weight ${fmt(p.weight)}`];
      if (plan.method.family === "gta") parts.push(`density ${fmt(p.density)}`);
      if (p.gamma !== undefined) parts.push(`gamma ${fmt(p.gamma)}`);
      if (p.epsilon !== undefined) parts.push(`epsilon ${fmt(p.epsilon)}`);
      const from = Object.entries(p.origins)
        .filter(([, o]) => o !== "model")
        .map(([k, o]) => `${k} from ${o}`);
      const read = input.name !== t.name ? ` reading ${input.name}` : "";
      lines.push(
        `    ${plan.sources[input.source]!.label}: ${parts.join(", ")}${from.length ? ` (${from.join(", ")})` : ""}${read}`,
      );
    }
    for (const s of t.skipped) lines.push(`    skipped ${s.model}: ${s.reason}`);
    for (const n of t.notes) lines.push(`    note: ${n}`);
  }
  for (const d of plan.dropped) lines.push(`left out ${d.name}: ${d.reason}`);
  return lines.join("\n");
}

/**
 * One model's per-tensor parameters (weight, density, and gamma/epsilon where the method has them), each with
 * where it came from. Semantics without a required weight (paper, peft) default it to 1.
 */
export function resolveModelParameters(
  method: MergeMethod,
  semantics: Semantics,
  config: MergeConfig,
  model: { index: number; label: string; parameters: MergeConfig["models"][number]["parameters"] },
  tensor: string,
  t: number,
): PlannedParameters {
  const origins: Record<string, ParameterOrigin> = {};
  const values: Record<string, number> = {};
  for (const def of method.tensorParameters) {
    const effective = def.name === "weight" && !semantics.weightRequired ? { ...def, default: 1 } : def;
    const r = resolveParameter(
      effective,
      {
        tensor,
        t,
        model: { label: model.label, path: `models.${model.index}`, parameters: model.parameters },
        global: config.parameters,
      },
      true,
    )!;
    values[def.name] = r.value as number;
    origins[def.name] = r.origin;
  }
  const planned: PlannedParameters = {
    index: model.index,
    weight: values["weight"]!,
    density: values["density"] ?? 1,
    origins,
  };
  if (values["gamma"] !== undefined) planned.gamma = values["gamma"];
  if (values["epsilon"] !== undefined) planned.epsilon = values["epsilon"];
  return planned;
}
