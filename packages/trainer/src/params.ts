/**
 * The trainable parameters of a model: LoRA factors, a selection of checkpoint weights, or both. Each holds an
 * f32 master copy, its gradient accumulator, and a feed that views the master in place, so ONNX Runtime reads
 * the current values without a copy. Frozen weights stay the model's own feeds: the reference model (the base
 * without the adapter, or the checkpoint as loaded) costs no second copy.
 */
import { FormatError } from "@lethe/core";
import {
  EMBED_WEIGHT,
  FINAL_NORM_WEIGHT,
  globalParams,
  LAYER_LINEARS,
  type LayerLinear,
  LM_HEAD_WEIGHT,
  layerParams,
  layerPrefix,
  linearShapes,
  type Model,
  NormalStream,
  ort,
} from "@lethe/model";

export interface LoraSpec {
  r: number;
  alpha: number;
  /** Module short names (`q_proj`, `down_proj`, …) or full relative names (`mlp.down_proj`). */
  targetModules: readonly string[];
  /** Scaling alpha/√r instead of alpha/r. */
  rslora?: boolean;
  /** Seeds A's Kaiming-uniform initialisation (B starts at 0, as PEFT) and the dropout masks. */
  seed: number;
  /** PEFT's lora_dropout probability on each module's input while training (default 0). */
  dropout?: number;
  /** Layers to adapt; default all. */
  layers?: readonly number[];
}

export interface TrainableSpec {
  lora?: LoraSpec;
  /** Checkpoint weights to train, by a regex over their names (`.*` for full fine-tuning). */
  select?: RegExp;
}

/** Where a parameter enters the graphs: a decoder layer's graph, the embedding, or the head (tied: both). */
export type Use =
  | { graph: "layer"; layer: number; input: string }
  | { graph: "embed" | "head"; input: string };

export interface Parameter {
  /** The checkpoint name, or PEFT's name for a LoRA factor. */
  name: string;
  shape: number[];
  uses: Use[];
  value: Float32Array;
  grad: Float32Array;
  /** No gradient added since zeroGrads: the next one is copied in rather than added. */
  gradIsZero: boolean;
  feed: ort.Tensor;
}

export const LORA_SCALING = "lora_scaling";
const PEFT_PREFIX = "base_model.model.";

export class ParameterSet {
  readonly params: Parameter[] = [];
  private readonly layerLora: (Map<LayerLinear, number> | null)[];
  readonly loraScaling: number;

  constructor(
    readonly model: Model,
    readonly spec: TrainableSpec,
  ) {
    const c = model.config;
    if (model.weights.matmulDtype !== "float32")
      throw new Error("training needs float32 MatMuls (load the model with matmulDtype: float32)");
    this.layerLora = model.weights.layers.map((l) => l.lora);
    this.loraScaling = 0;
    if (spec.lora) {
      const { r, alpha, rslora } = spec.lora;
      this.loraScaling = rslora ? alpha / Math.sqrt(r) : alpha / r;
      this.addLora(spec.lora);
    }
    if (spec.select) this.addSelected(spec.select);
    if (this.params.length === 0) {
      throw new FormatError(
        `nothing to train: no LoRA module and no checkpoint weight matches ${spec.select ?? "(no select)"} (${c.numLayers} layers)`,
      );
    }
  }

  private addLora(lora: LoraSpec): void {
    const shapes = linearShapes(this.model.config);
    const modules = lora.targetModules.map((m) => resolveModule(m));
    const layers = lora.layers ?? this.model.weights.layers.map((_, i) => i);
    for (const i of layers) {
      const ranks = new Map<LayerLinear, number>();
      const existing = this.model.weights.layers[i]!;
      for (const module of modules) {
        const [outF, inF] = shapes[module];
        const full = `${layerPrefix(i)}${module}`;
        const startA = existing.lora?.has(module) ? existing.feeds[`${module}.lora_A.weight`] : undefined;
        const startB = existing.lora?.has(module) ? existing.feeds[`${module}.lora_B.weight`] : undefined;
        const a = startA
          ? Float32Array.from(startA.data as Float32Array)
          : kaimingUniform(lora.seed, full, lora.r, inF);
        const b = startB ? Float32Array.from(startB.data as Float32Array) : new Float32Array(outF * lora.r);
        this.add(`${PEFT_PREFIX}${full}.lora_A.weight`, [lora.r, inF], a, [
          { graph: "layer", layer: i, input: `${module}.lora_A.weight` },
        ]);
        this.add(`${PEFT_PREFIX}${full}.lora_B.weight`, [outF, lora.r], b, [
          { graph: "layer", layer: i, input: `${module}.lora_B.weight` },
        ]);
        ranks.set(module, lora.r);
      }
      this.layerLora[i] = ranks;
    }
  }

  private addSelected(pattern: RegExp): void {
    const c = this.model.config;
    const w = this.model.weights;
    const anchored = new RegExp(`^(?:${pattern.source})$`, pattern.flags);
    for (const spec of globalParams(c)) {
      if (!anchored.test(spec.name)) continue;
      const uses: Use[] =
        spec.name === EMBED_WEIGHT
          ? [
              { graph: "embed", input: EMBED_WEIGHT },
              ...(c.tieWordEmbeddings ? [{ graph: "head" as const, input: LM_HEAD_WEIGHT }] : []),
            ]
          : [{ graph: "head", input: spec.name }];
      const source =
        spec.name === EMBED_WEIGHT ? w.embed : spec.name === FINAL_NORM_WEIGHT ? w.finalNorm! : w.lmHead;
      this.add(spec.name, spec.shape, Float32Array.from(source.data as Float32Array), uses);
    }
    for (let i = 0; i < c.numLayers; i++) {
      for (const spec of layerParams(c)) {
        const name = layerPrefix(i) + spec.name;
        if (!anchored.test(name)) continue;
        const source = w.layers[i]!.feeds[spec.name]!;
        this.add(name, spec.shape, Float32Array.from(source.data as Float32Array), [
          { graph: "layer", layer: i, input: spec.name },
        ]);
      }
    }
  }

  private add(name: string, shape: number[], value: Float32Array, uses: Use[]): void {
    const feed = new ort.Tensor("float32", value, shape);
    this.params.push({
      name,
      shape,
      uses,
      value,
      grad: new Float32Array(value.length),
      gradIsZero: true,
      feed,
    });
  }

  /** The dropout probability applied to the trained LoRA modules' inputs (0: none). */
  get loraDropout(): number {
    return this.spec.lora?.dropout ?? 0;
  }

  /** LoRA ranks of layer i's graph (the trainer's modules, else the loaded adapter's), or null. */
  loraRanks(layer: number): Map<LayerLinear, number> | null {
    return this.layerLora[layer] ?? null;
  }

  /** Graph inputs of layer i that are trained. */
  layerTrainable(layer: number): string[] {
    return this.usesIn("layer", layer).map(([, use]) => use.input);
  }

  trainable(graph: "embed" | "head"): string[] {
    return this.usesIn(graph).map(([, use]) => use.input);
  }

  /** Parameters with their use in that graph (one decoder layer, or the embedding, or the head). */
  usesIn(graph: Use["graph"], layer?: number): [Parameter, Use][] {
    const out: [Parameter, Use][] = [];
    for (const p of this.params) {
      for (const use of p.uses) {
        if (use.graph === graph && (use.graph !== "layer" || use.layer === layer)) out.push([p, use]);
      }
    }
    return out;
  }

  /** The lowest decoder layer with a trainable input (-1 when the embedding trains, numLayers for the head only). */
  get lowestTrainableLayer(): number {
    if (this.usesIn("embed").length > 0) return -1;
    let lowest = this.model.config.numLayers;
    for (const p of this.params)
      for (const use of p.uses) if (use.graph === "layer") lowest = Math.min(lowest, use.layer);
    return lowest;
  }

  /**
   * Feeds of layer i's graph: the model's frozen weights with the trained ones on top. The reference sees the
   * weights as loaded and the LoRA term scaled by 0.
   */
  layerFeeds(layer: number, reference: boolean): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = { ...this.model.weights.layers[layer]!.feeds };
    if (this.layerLora[layer]) {
      const scaling = reference ? 0 : this.spec.lora ? this.loraScaling : null;
      if (scaling !== null) feeds[LORA_SCALING] = new ort.Tensor("float32", Float32Array.of(scaling), []);
    }
    for (const [p, use] of this.usesIn("layer", layer)) {
      // The reference still takes the LoRA factors as inputs; scaled by 0 they change nothing.
      if (!reference || isLoraFactor(use.input)) feeds[use.input] = p.feed;
    }
    return feeds;
  }

  embedFeed(reference: boolean): ort.Tensor {
    const [trained] = this.usesIn("embed");
    return !reference && trained ? trained[0].feed : this.model.weights.embed;
  }

  headFeeds(reference: boolean): Record<string, ort.Tensor> {
    const w = this.model.weights;
    const feeds: Record<string, ort.Tensor> = { [LM_HEAD_WEIGHT]: w.lmHead };
    if (w.finalNorm) feeds[FINAL_NORM_WEIGHT] = w.finalNorm;
    if (!reference) for (const [p, use] of this.usesIn("head")) feeds[use.input] = p.feed;
    return feeds;
  }

  /**
   * The model as it is being trained, for generation or scoring: the frozen feeds with the trained ones on
   * top (views of the masters, so it follows every update without a copy).
   */
  policyModel(): Model {
    const w = this.model.weights;
    const head = this.headFeeds(false);
    const layers = w.layers.map((_, i) => ({ feeds: this.layerFeeds(i, false), lora: this.loraRanks(i) }));
    return this.model.withWeights({
      ...w,
      embed: this.embedFeed(false),
      lmHead: head[LM_HEAD_WEIGHT]!,
      finalNorm: head[FINAL_NORM_WEIGHT] ?? null,
      layers,
    });
  }

  zeroGrads(): void {
    for (const p of this.params) {
      if (!p.gradIsZero) p.grad.fill(0);
      p.gradIsZero = true;
    }
  }

  get size(): number {
    return this.params.reduce((n, p) => n + p.value.length, 0);
  }
}

const isLoraFactor = (input: string) => /\.lora_[AB]\.weight$/.test(input);

function resolveModule(name: string): LayerLinear {
  const found = LAYER_LINEARS.find((m) => m === name || m.endsWith(`.${name}`));
  if (!found) {
    throw new FormatError(
      `lora.target_modules: "${name}" is not a linear module (allowed: ${LAYER_LINEARS.map((m) => m.split(".")[1]).join(", ")})`,
    );
  }
  return found;
}

/** PEFT's lora_A init, nn.init.kaiming_uniform_(a=√5): U(−1/√in, 1/√in), from a stream named by the module. */
function kaimingUniform(seed: number, module: string, rows: number, inFeatures: number): Float32Array {
  const stream = new NormalStream(seed, `${module}.lora_A`);
  const bound = 1 / Math.sqrt(inFeatures);
  const out = new Float32Array(rows * inFeatures);
  for (let i = 0; i < out.length; i++) out[i] = (2 * stream.uniform() - 1) * bound;
  return out;
}
