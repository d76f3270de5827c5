/// <reference path="../../../core/src/webassembly.d.ts" />
/**
 * Where the WebAssembly SIMD kernels (`assembly/gta-bf16.ts`, built to dist/wasm by `pnpm build`) run, and how
 * tensor data reaches them. The module imports its memory, so one compiled module serves two instances per
 * thread:
 *
 *   - one over a private memory, into which each chunk of the inputs is copied and the output copied back;
 *   - one over the worker pool's arena (workers/pool.ts), a shared memory in which the tensors already live, so
 *     the kernels read inputs and write outputs in place. Each thread has its own scratch slot there.
 *
 * A shared memory's buffer is not the same object in every thread (each message brings its own wrapper), so
 * the arena is recognised by its size and a random token written in its header.
 */
import { randomFillSync } from "node:crypto";
import { compileWasmFile } from "@lethe/core";

export interface SimdKernels {
  dataStart(): number;
  scan(x: number, base: number, count: number, hist: number): void;
  scanPair(x0: number, x1: number, base: number, count: number, hist0: number, hist1: number): void;
  foldHistograms(hist: number): void;
  trimWeight(
    x: number,
    base: number,
    count: number,
    weight: number,
    cut: number,
    quota: number,
    wd: number,
    sums: number,
  ): number;
  mergePair(
    x0: number,
    x1: number,
    base: number,
    count: number,
    w0: number,
    w1: number,
    cut0: number,
    cut1: number,
    normalize: number,
    d0: number,
    d1: number,
    d2: number,
    d3: number,
    lambda: number,
    out: number,
    state: number,
  ): number;
  voteFinish(
    wd: number,
    stride: number,
    n: number,
    count: number,
    consensus: number,
    normalize: number,
    divisors: number,
    lambda: number,
    base: number,
    out: number,
    tally: number,
  ): number;
  votePairFinish(
    wd0: number,
    wd1: number,
    count: number,
    normalize: number,
    d0: number,
    d1: number,
    d2: number,
    d3: number,
    lambda: number,
    base: number,
    out: number,
    tally: number,
  ): number;
}

/** Elements per chunk: what one kernel call processes. */
export const SIMD_CHUNK = 8192;
export const HIST_BYTES = (1 << 15) * 4;
/** scan() fills four interleaved histograms per model. */
export const HIST_SET_BYTES = 4 * HIST_BYTES;
/** mergePair()'s counts: agreements and conflicts (i32x4 each), kept and kept nonzero per model, quotas. */
export const PAIR_STATE = {
  agreed: [0, 16],
  conflicts: 32,
  kept: [48, 52],
  nonzero: [56, 60],
  quota: [64, 68],
};
const PAIR_STATE_BYTES = 80;

/** Byte offsets of one thread's scratch buffers, for `models` inputs. */
export interface Layout {
  /** Staging for chunks of inputs and output that do not live in the kernel's memory. */
  base: number;
  xs: number[];
  out: number;
  wd: number;
  /** Bytes from one model's row of weighted deltas to the next. */
  wdStride: number;
  divisors: number;
  hists: number;
  sums: number;
  tally: number;
  /** mergePair()'s counts (PAIR_STATE). */
  state: number;
  end: number;
}

/** The fused path's model limit: agreement patterns index a table of 2^models divisors. */
export const SIMD_MAX_MODELS = 16;

export function layoutAt(start: number, models: number): Layout {
  if (!Number.isInteger(models) || models < 1 || models > SIMD_MAX_MODELS)
    throw new Error(`internal: the SIMD kernels take 1 to ${SIMD_MAX_MODELS} models, got ${models}`);
  const bf16Chunk = SIMD_CHUNK * 2;
  const f32Chunk = SIMD_CHUNK * 4;
  let at = start;
  const take = (bytes: number) => {
    const offset = at;
    at += (bytes + 15) & ~15;
    return offset;
  };
  return {
    base: take(bf16Chunk),
    xs: Array.from({ length: models }, () => take(bf16Chunk)),
    out: take(bf16Chunk),
    wd: take(f32Chunk * models),
    wdStride: f32Chunk,
    divisors: take(4 << models),
    hists: take(HIST_SET_BYTES * models),
    sums: take(48),
    tally: take(16 * (models + 1)),
    state: take(PAIR_STATE_BYTES),
    end: at,
  };
}

/** The arena's first bytes are left to the module's static data; its token sits at the end of them. */
export const ARENA_HEADER_BYTES = 1 << 16;
const TOKEN_OFFSET = ARENA_HEADER_BYTES - 16;
/** Scratch per thread in the arena: in-place kernels for up to this many models (more use the private memory). */
const ARENA_SLOT_MODELS = 4;
export const ARENA_SLOT_BYTES = Math.ceil(layoutAt(0, ARENA_SLOT_MODELS).end / 65536) * 65536;
/** Bytes kept free after the last piece: kernels read up to 6 bytes past an input's end. */
export const ARENA_TAIL_BYTES = 64;
const PAGE = 65536;
const MAX_PAGES = 65536;
const OWN_MAX_PAGES = 512;

const WASM_FILE = new URL("../../dist/wasm/gta-bf16.wasm", import.meta.url);

function instantiate(memory: WebAssembly.Memory): SimdKernels {
  const compiled = compileWasmFile(WASM_FILE, "the merge kernel");
  const instance = new WebAssembly.Instance(compiled, {
    env: {
      memory,
      abort: () => {
        throw new Error("internal: the merge kernel aborted");
      },
    },
  });
  return instance.exports as unknown as SimdKernels;
}

/** A shared wasm memory of `bytes` (rounded up to pages) for an arena, with its token; null if over 4 GiB. */
export function createArenaMemory(bytes: number): WebAssembly.Memory | null {
  const pages = Math.ceil(bytes / PAGE);
  if (pages > MAX_PAGES) return null;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null; // no address space for it (a ulimit, say): the arena becomes a plain shared buffer
  }
  randomFillSync(new Uint8Array(memory.buffer, TOKEN_OFFSET, 16));
  return memory;
}

interface Instance {
  k: SimdKernels;
  memory: WebAssembly.Memory;
  scratch: number;
  /** End of the scratch slot (arena), or Infinity where the memory grows (private). */
  limit: number;
}

interface ArenaInstance extends Instance {
  bytes: number;
  token: Uint32Array;
  /** Which buffer wrappers this thread has seen are views of this arena (answers for this binding only). */
  seen: WeakMap<ArrayBufferLike, boolean>;
}

let own: Instance | null = null;
/** This thread's arena binding: one at a time (a second pool's binding replaces the first's). */
let arena: ArenaInstance | null = null;

/**
 * Run in-place kernels on arena memory from this thread, with scratch at [offset, offset + ARENA_SLOT_BYTES);
 * null drops the binding (so that a closed pool's memory can be freed).
 */
export function bindArenaMemory(memory: WebAssembly.Memory | null, scratchOffset = 0): void {
  if (!memory) {
    arena = null;
    return;
  }
  const k = instantiate(memory);
  const token = new Uint32Array(memory.buffer.slice(TOKEN_OFFSET, TOKEN_OFFSET + 16));
  arena = {
    k,
    memory,
    scratch: scratchOffset,
    limit: scratchOffset + ARENA_SLOT_BYTES,
    bytes: memory.buffer.byteLength,
    token,
    seen: new WeakMap(),
  };
}

/** Whether this thread's arena binding is to `memory`. */
export function boundTo(memory: WebAssembly.Memory): boolean {
  return arena?.memory === memory;
}

function inArena(buffer: ArrayBufferLike): boolean {
  if (!arena || buffer.byteLength !== arena.bytes || !(buffer instanceof SharedArrayBuffer)) return false;
  let known = arena.seen.get(buffer);
  if (known === undefined) {
    const token = new Uint32Array(buffer, TOKEN_OFFSET, 4);
    known = token.every((word, i) => word === arena!.token[i]);
    arena.seen.set(buffer, known);
  }
  return known;
}

/** A thread's kernels with memory laid out for a call: pointers to inputs and output, in place or staged. */
export class KernelCall {
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;

  private constructor(
    readonly k: SimdKernels,
    readonly memory: WebAssembly.Memory,
    readonly l: Layout,
    /** Inputs and output live in this memory: no copies. */
    readonly inPlace: boolean,
  ) {
    this.u16 = new Uint16Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
  }

  /** Kernels for `models` inputs over `views` (all tensors the call reads or writes). */
  static for(views: readonly Uint8Array[], models: number): KernelCall {
    if (arena && views.every((v) => inArena(v.buffer))) {
      const l = layoutAt(arena.scratch, models);
      if (l.end <= arena.limit) return new KernelCall(arena.k, arena.memory, l, true);
    }
    if (!own) {
      // Scratch for up to 16 models is ≈ 9 MB; a small maximum keeps each thread's address reservation small.
      const memory = new WebAssembly.Memory({ initial: 1, maximum: OWN_MAX_PAGES, shared: true });
      const k = instantiate(memory);
      own = { k, memory, scratch: k.dataStart(), limit: Number.POSITIVE_INFINITY };
    }
    const l = layoutAt(own.scratch, models);
    const pages = Math.ceil((l.end - own.memory.buffer.byteLength) / PAGE);
    if (pages > 0) own.memory.grow(pages);
    return new KernelCall(own.k, own.memory, l, false);
  }

  /** Byte offset of elements [c, c + count) of a bf16 tensor: where it lives, or `staging` after a copy. */
  input(view: Uint8Array, c: number, count: number, staging: number): number {
    if (this.inPlace) return view.byteOffset + c * 2;
    const src = new Uint16Array(view.buffer, view.byteOffset + c * 2, count);
    this.u16.set(src, staging >>> 1);
    return staging;
  }

  /** Byte offset to write elements [c, c + count) of a bf16 output to (then `commit`). */
  output(view: Uint8Array, c: number): number {
    return this.inPlace ? view.byteOffset + c * 2 : this.l.out;
  }

  /** Copy a staged output chunk to its tensor (nothing to do in place). */
  commit(view: Uint8Array, c: number, count: number): void {
    if (this.inPlace) return;
    new Uint16Array(view.buffer, view.byteOffset + c * 2, count).set(
      this.u16.subarray(this.l.out >>> 1, (this.l.out >>> 1) + count),
    );
  }
}
