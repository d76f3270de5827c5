/**
 * Compiled ONNX Runtime sessions keyed by graph structure. Weights are graph inputs, so every checkpoint of
 * one architecture (a sweep of merged checkpoints, a model and its LoRA-free base) reuses the same sessions:
 * building and compiling happens once per (graph key, session options).
 */
import * as ort from "onnxruntime-node";
import { buildGraph } from "../arch/build-graph.js";
import { type GraphRequest, graphKey } from "../arch/graphs.js";
import type { DataType, Graph, Shape } from "../graph/ir.js";
import { encodeModel } from "../graph/onnx-encode.js";

export interface SessionOptions {
  /** Execution providers in order of preference; default ["cpu"] (the only one CI uses). */
  executionProviders?: string[];
  /** Threads per op; ORT's default uses every physical core. */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  /**
   * ORT's per-session CPU arena keeps each session's peak memory after a run (default on). Training turns it
   * off: its many sessions would otherwise hold the sum of their peaks, not the largest.
   */
  enableCpuMemArena?: boolean;
  /**
   * ORT's memory pattern plans one block for all of a run's intermediates (default on). Without an arena that
   * block is a fresh mmap every run, page-faulted in again each time; training turns the pattern off too, and
   * its smaller per-tensor allocations are reused by malloc from run to run.
   */
  enableMemPattern?: boolean;
}

export interface InputSpec {
  name: string;
  dtype: DataType;
  shape: Shape;
}

export interface CompiledGraph {
  key: string;
  session: ort.InferenceSession;
  inputs: InputSpec[];
  outputs: string[];
  /** Size of the encoded ONNX model in bytes. */
  modelBytes: number;
}

/** Encode `graph` and create an ONNX Runtime session for it (CPU unless options say otherwise). */
export async function compileGraph(
  graph: Graph,
  options: SessionOptions = {},
  key = graph.name,
): Promise<CompiledGraph> {
  const bytes = encodeModel(graph);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: options.executionProviders ?? ["cpu"],
    graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
    ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    ...(options.interOpNumThreads !== undefined ? { interOpNumThreads: options.interOpNumThreads } : {}),
    ...(options.enableCpuMemArena !== undefined ? { enableCpuMemArena: options.enableCpuMemArena } : {}),
    ...(options.enableMemPattern !== undefined ? { enableMemPattern: options.enableMemPattern } : {}),
  });
  return {
    key,
    session,
    inputs: graph.inputs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape })),
    outputs: graph.outputs.map((v) => v.name),
    modelBytes: bytes.byteLength,
  };
}

export class SessionCache {
  private readonly sessions = new Map<string, Promise<CompiledGraph>>();
  /** Graphs built and compiled, and lookups served from the cache. */
  readonly stats = { compiled: 0, hits: 0 };

  constructor(readonly options: SessionOptions = {}) {}

  get(req: GraphRequest): Promise<CompiledGraph> {
    const key = graphKey(req);
    const cached = this.sessions.get(key);
    if (cached) {
      this.stats.hits++;
      return cached;
    }
    const compiled = this.compile(key, req);
    this.sessions.set(key, compiled);
    compiled.catch(() => this.sessions.delete(key));
    return compiled;
  }

  private async compile(key: string, req: GraphRequest): Promise<CompiledGraph> {
    const compiled = await compileGraph(buildGraph(req), this.options, key);
    this.stats.compiled++;
    return compiled;
  }

  get size(): number {
    return this.sessions.size;
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of await Promise.allSettled(all))
      if (s.status === "fulfilled") await s.value.session.release();
  }
}

const shared = new Map<string, SessionCache>();

/** The process-wide cache for these session options (models loaded with equal options share it). */
export function sharedSessionCache(options: SessionOptions = {}): SessionCache {
  const key = JSON.stringify([
    options.executionProviders ?? ["cpu"],
    options.intraOpNumThreads ?? null,
    options.interOpNumThreads ?? null,
    options.graphOptimizationLevel ?? "all",
    options.enableCpuMemArena ?? true,
    options.enableMemPattern ?? true,
  ]);
  let cache = shared.get(key);
  if (!cache) {
    cache = new SessionCache(options);
    shared.set(key, cache);
  }
  return cache;
}
