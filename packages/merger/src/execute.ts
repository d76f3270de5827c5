/**
 * The streaming merge: tensor by tensor in the output's write order, read the inputs of one tensor into
 * shared memory, merge it on worker threads, stream it into the output shard, and let it go. Reads of the
 * next tensors overlap the current merge while the tensor data in flight stays within (models + 3) × the
 * largest tensor; no model or shard is ever held whole. The result is published atomically as a Lethe
 * checkpoint (weights, config.json, tokenizer files, README model card, the config, lethe.json).
 */
import { availableParallelism } from "node:os";
import { type FloatDType, isFloatDType } from "@lethe/core";
import { checkCompatible } from "./compatible.js";
import { type MergeConfig, referenceString } from "./config/schema.js";
import { mergeGtaTensor, type TensorStats } from "./engine/gta-tensor.js";
import { mergeLinearTensor } from "./engine/linear-tensor.js";
import { type BlockRunner, BufferScope } from "./engine/runner.js";
import { gtaJob, linearSpec, shapeNumel } from "./engine/tensor-job.js";
import { globalPaperCuts } from "./global-trim.js";
import { bytesOf, type LoadedTensor, loadTensor } from "./load-tensor.js";
import { mergeLoraAdapters, planLoraMerge } from "./lora/merge.js";
import { type MergeOptions, type MergeResult, type OpenedInputs, resolveSemantics } from "./merge-options.js";
import { linear as linearMethod } from "./methods/linear.js";
import { formatPlan, type MergePlan, type PlannedTensor, planMergeFromSources } from "./plan.js";
import { publish } from "./publish.js";
import { type ModelSource, type OpenOptions, openModelSource } from "./sources.js";
import type { Cut } from "./sparsify/magnitude-select.js";
import type { StatsCollector } from "./stats.js";
import { WorkerPool } from "./workers/pool.js";

export type { MergeOptions, MergeResult, OpenedInputs } from "./merge-options.js";
export { resolveSemantics } from "./merge-options.js";
export { publish } from "./publish.js";

/** Open the base and every model once (a model listed twice, or also the base, is opened once). */
export async function openInputs(config: MergeConfig, options: OpenOptions = {}): Promise<OpenedInputs> {
  const sources: ModelSource[] = [];
  const byKey = new Map<string, number>();
  const close = async () => {
    for (const s of sources) await s.close();
  };
  try {
    const open = async (ref: MergeConfig["models"][number]["model"]): Promise<number> => {
      const key = referenceString(ref);
      const known = byKey.get(key);
      if (known !== undefined) return known;
      const source = await openModelSource(ref, key, options);
      sources.push(source);
      byKey.set(key, sources.length - 1);
      return sources.length - 1;
    };
    const baseSource = config.baseModel ? await open(config.baseModel) : null;
    const modelSources: number[] = [];
    for (const m of config.models) modelSources.push(await open(m.model));
    return { sources, modelSources, baseSource, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export function planFor(config: MergeConfig, inputs: OpenedInputs, options: MergeOptions): MergePlan {
  checkCompatible(inputs.sources, inputs.baseSource ?? inputs.modelSources[0]!, inputs.baseSource !== null);
  const semantics = resolveSemantics(options, false);
  return planMergeFromSources({
    config,
    semantics,
    coverage: options.coverage ?? "strict",
    seed: options.seed ?? 0,
    sources: inputs.sources,
    modelSources: inputs.modelSources,
    baseSource: inputs.baseSource,
  });
}

/**
 * Starts loads in order, ahead of use, while the bytes in flight stay within the budget and the runner's
 * reserve (when it has one) can hold the item's buffers; an item that fits nowhere starts when it is alone.
 */
class Prefetcher<T, L> {
  private started = 0;
  private inFlight = 0;
  private stopped = false;
  private readonly loads = new Map<number, Promise<L>>();
  private readonly waiting = new Map<number, (load: Promise<L>) => void>();

  constructor(
    private readonly items: readonly T[],
    private readonly load: (item: T, reserved: Uint8Array[]) => Promise<L>,
    private readonly cost: (item: T) => number,
    private readonly budget: number,
    /** Buffers for the item taken now, [] when there is nothing to reserve, null when they do not fit yet. */
    private readonly reserve: (item: T) => Uint8Array[] | null,
    /** Gives back what a load holds, for loads nobody will take. */
    private readonly dispose: (loaded: L) => void,
  ) {}

  private pump(): void {
    while (!this.stopped && this.started < this.items.length) {
      const item = this.items[this.started]!;
      const c = this.cost(item);
      const alone = this.inFlight === 0;
      if (!alone && this.inFlight + c > this.budget) return;
      const reserved = this.reserve(item);
      if (reserved === null && !alone) return;
      this.inFlight += c;
      const p = this.load(item, reserved ?? []);
      p.catch(() => undefined); // surfaced when taken
      const index = this.started++;
      const waiter = this.waiting.get(index);
      this.waiting.delete(index);
      if (waiter) waiter(p);
      else this.loads.set(index, p);
    }
  }

  /** The load of item `index`; if it has not started, it starts as soon as releases make room for it. */
  async take(index: number): Promise<L> {
    this.pump();
    const started = this.loads.get(index);
    this.loads.delete(index);
    if (started) return started;
    return new Promise<L>((resolve) => this.waiting.set(index, resolve)); // resolved with the load itself
  }

  release(item: T): void {
    this.inFlight -= this.cost(item);
    this.pump();
  }

  /** After a failure: start nothing more, and give back what the loads started but not taken hold. */
  async abandon(): Promise<void> {
    this.stopped = true;
    const untaken = [...this.loads.values()];
    this.loads.clear();
    for (const result of await Promise.allSettled(untaken)) {
      if (result.status === "fulfilled") this.dispose(result.value);
    }
  }
}

/** Merge every tensor of the plan in `order`, handing each result to `write`. */
export async function runPlan(
  plan: MergePlan,
  sources: readonly ModelSource[],
  runner: BlockRunner,
  order: readonly string[],
  write: (name: string, bytes: Uint8Array) => Promise<void>,
  collector: StatsCollector,
  fixedCuts: Map<string, (Cut | null)[]> | null,
  blockElements?: number,
): Promise<void> {
  const byName = new Map(plan.tensors.map((t) => [t.name, t]));
  const tensors = order.map((name) => byName.get(name)!);
  const load = async (t: PlannedTensor, reserved: Uint8Array[]) => {
    const scope = new BufferScope(runner, reserved);
    try {
      return { scope, tensor: await loadTensor(t, sources, (n) => scope.allocate(n)) };
    } catch (err) {
      scope.releaseAll();
      throw err;
    }
  };
  // The inputs as stored and the output: what a tensor holds while in flight.
  const sizes = (t: PlannedTensor) => [
    ...[...(t.base ? [t.base] : []), ...t.inputs].map((i) => bytesOf(i.dtype, i.shape)),
    bytesOf(t.dtype, t.shape),
  ];
  const cost = (t: PlannedTensor) => sizes(t).reduce((a, b) => a + b, 0);
  const reserve = (t: PlannedTensor) => (runner.tryAllocateAll ? runner.tryAllocateAll(sizes(t)) : []);
  const prefetch = new Prefetcher(tensors, load, cost, plan.memory.budgetBytes, reserve, (loaded) =>
    loaded.scope.releaseAll(),
  );

  /** The merged (or copied) tensor `t`, in a buffer of `scope` or its base's own. */
  const mergeOne = async (
    t: PlannedTensor,
    loaded: LoadedTensor,
    scope: BufferScope,
  ): Promise<Uint8Array> => {
    let out: Uint8Array;
    if (t.action === "copy") {
      const base = loaded.base!;
      if (!isFloatDType(t.base!.dtype) || (t.base!.dtype === t.dtype && t.working === t.dtype))
        out = base.bytes;
      else {
        out = scope.allocate(bytesOf(t.dtype, t.shape));
        const spec = linearSpec({
          method: linearMethod,
          semantics: plan.semantics,
          working: t.working!,
          outDtype: t.dtype as FloatDType,
          tensor: t.name,
          shape: t.shape,
          models: [{ index: 0, weight: 1, density: 1 }],
          normalize: false,
        });
        await mergeLinearTensor(spec, [base], runner, out, blockElements);
      }
      collector.addCopied();
    } else {
      out = scope.allocate(bytesOf(t.dtype, t.shape));
      const models = t.inputs.map((i) => ({
        index: i.parameters!.index,
        weight: i.parameters!.weight,
        density: i.parameters!.density,
        ...(i.parameters!.gamma !== undefined ? { gamma: i.parameters!.gamma } : {}),
        ...(i.parameters!.epsilon !== undefined ? { epsilon: i.parameters!.epsilon } : {}),
      }));
      const common = {
        method: plan.method,
        semantics: plan.semantics,
        working: t.working!,
        outDtype: t.dtype as FloatDType,
        tensor: t.name,
        shape: t.shape,
        models,
        normalize: t.global.normalize,
      };
      const labels = t.inputs.map((i) => plan.sources[i.source]!.label);
      if (plan.method.family === "gta") {
        const job = gtaJob(
          { ...common, rescale: t.global.rescale, lambda: t.global.lambda, seed: plan.seed },
          loaded,
        );
        const cuts = fixedCuts?.get(t.name);
        if (cuts) job.fixedCuts = cuts;
        if (blockElements !== undefined) job.blockElements = blockElements;
        const stats: TensorStats = await mergeGtaTensor(job, runner, out);
        collector.add(t.layer, labels, stats);
      } else {
        await mergeLinearTensor(linearSpec(common), loaded.models, runner, out, blockElements);
        collector.add(t.layer, labels, {
          numel: shapeNumel(t.shape),
          conflicts: 0,
          models: t.inputs.map(() => ({
            kept: shapeNumel(t.shape),
            keptNonzero: 0,
            agreed: 0,
            l2Before: 0,
            l2After: 0,
            scale: 1,
          })),
        });
      }
    }
    return out;
  };

  let pendingWrite: Promise<void> = Promise.resolve();
  try {
    for (let k = 0; k < tensors.length; k++) {
      const t = tensors[k]!;
      const { scope, tensor: loaded } = await prefetch.take(k);
      const done = () => {
        scope.releaseAll();
        prefetch.release(t);
      };
      let out: Uint8Array;
      try {
        out = await mergeOne(t, loaded, scope);
        await pendingWrite;
      } catch (err) {
        done();
        throw err;
      }
      // The tensor's buffers go back once it is written, or once writing it failed.
      pendingWrite = write(t.name, out).finally(done);
      pendingWrite.catch(() => undefined); // seen by the next await
    }
    await pendingWrite;
  } catch (err) {
    await prefetch.abandon();
    await pendingWrite.catch(() => undefined);
    throw err;
  }
}

/** Plan a merge without running it: what `--dry-run` prints. */
export async function planMerge(config: MergeConfig, options: MergeOptions = {}): Promise<MergePlan> {
  const inputs = await openInputs(config, options);
  try {
    if (inputs.sources.some((s) => s.kind === "adapter")) {
      return (await planLoraMerge(config, inputs, options)).plan;
    }
    return planFor(config, inputs, options);
  } finally {
    await inputs.close();
  }
}

export { formatPlan };

/** Merge and publish the result at `outUri` (a path, file:// or s3:// URI that must not exist yet). */
export async function merge(
  config: MergeConfig,
  outUri: string,
  options: MergeOptions = {},
): Promise<MergeResult> {
  const started = performance.now();
  const inputs = await openInputs(config, options);
  const runner = options.runner ?? new WorkerPool(options.threads ?? availableParallelism());
  try {
    if (inputs.sources.some((s) => s.kind === "adapter")) {
      return await mergeLoraAdapters(config, inputs, outUri, runner, options, started);
    }
    const plan = planFor(config, inputs, options);
    for (const w of plan.warnings) options.log?.(`warning: ${w}`);
    // Tensor data lives in one arena of the budget's size; what does not fit there is left to the GC.
    if (runner instanceof WorkerPool) {
      runner.useArena(plan.memory.budgetBytes);
      if (!options.runner) runner.maxIdleBytes = 0;
    }
    const fixedCuts =
      plan.semantics.trim === "at-least" &&
      (options.trimScope ?? "global") === "global" &&
      plan.method.sparsification === "magnitude"
        ? await globalPaperCuts(plan, inputs.sources, runner)
        : null;
    return await publish(plan, inputs.sources, outUri, options, started, async (weights, collector) => {
      const total = plan.tensors.reduce((a, t) => a + bytesOf(t.dtype, t.shape), 0);
      let done = 0;
      await runPlan(
        plan,
        inputs.sources,
        runner,
        weights.order,
        async (name, bytes) => {
          await weights.writeTensor(name, bytes);
          done += bytes.byteLength;
          options.onProgress?.(done, total);
        },
        collector,
        fixedCuts,
        options.blockElements,
      );
    });
  } finally {
    if (!options.runner) await runner.close();
    await inputs.close();
  }
}
