/// <reference path="../../../core/src/webassembly.d.ts" />
/**
 * AdamW (Loshchilov & Hutter) as torch.optim.AdamW computes it for float32 parameters, with global-norm gradient
 * clipping as torch.nn.utils.clip_grad_norm_:
 *
 *   g ← g · min(1, max_norm / (‖g‖₂ + 1e-6))          (‖g‖₂ over every parameter together)
 *   θ ← θ · (1 − lr·λ)                                 (decoupled weight decay)
 *   m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
 *   θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 *
 * The update, and the gradient norm clipping needs, run in the WebAssembly SIMD kernel of assembly/adamw.ts,
 * four lanes a step. The moments m and v live in the kernels' own memories (banks of at most 2 GiB of state
 * each, so a 1B model takes four), and each parameter streams through a small scratch area in chunks that stay
 * in cache: the update reads and writes every byte once, as the loop would, at a fraction of the JavaScript
 * loop's time.
 */
import { compileWasmFile } from "@lethe/core";

export interface AdamWOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export interface Trainable {
  value: Float32Array;
  grad: Float32Array;
}

interface Kernel {
  dataStart(): number;
  adamw(
    theta: number,
    grad: number,
    m: number,
    v: number,
    n: number,
    b1: number,
    b2: number,
    gradScale: number,
    stepSize: number,
    sqrtBc2: number,
    eps: number,
    decay: number,
  ): void;
  sumSquares(x: number, n: number): number;
}

const WASM_FILE = new URL("../../dist/wasm/adamw.wasm", import.meta.url);
const PAGE = 65536;
/** Elements per chunk: θ and g chunks of 64 KiB each stay in L2 between the copy in and the copy out. */
const CHUNK = 16384;
const BANK_STATE_BYTES = 2 * 2 ** 30;
/** A wasm32 memory holds at most 4 GiB; leave room for the kernel and the scratch area. */
const MAX_BANK_BYTES = 4 * 2 ** 30 - 2 ** 20;

function kernelModule(): WebAssembly.Module {
  return compileWasmFile(WASM_FILE, "the AdamW kernel");
}

/** One wasm memory: the kernel, a scratch area for θ and g, and the moments of some parameters. */
class Bank {
  readonly kernel: Kernel;
  readonly heap: Float32Array;
  readonly scratchTheta: number;
  readonly scratchGrad: number;
  private next: number;

  constructor(stateBytes: number) {
    const kernelBytes = 64 * 1024 + 2 * CHUNK * 4;
    const pages = Math.ceil((kernelBytes + stateBytes + 64) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const instance = new WebAssembly.Instance(kernelModule(), {
      env: {
        memory,
        abort: () => {
          throw new Error("internal: the AdamW kernel aborted");
        },
      },
    });
    this.kernel = instance.exports as unknown as Kernel;
    this.heap = new Float32Array(memory.buffer);
    this.scratchTheta = align(this.kernel.dataStart());
    this.scratchGrad = this.scratchTheta + CHUNK * 4;
    this.next = this.scratchGrad + CHUNK * 4;
  }

  /** A zeroed, 16-byte aligned f32 array in this bank's memory. */
  allocate(n: number): { offset: number; view: Float32Array } {
    const offset = this.next;
    this.next = align(offset + n * 4);
    return { offset, view: this.heap.subarray(offset / 4, offset / 4 + n) };
  }
}

interface Slot {
  bank: Bank;
  m: { offset: number; view: Float32Array };
  v: { offset: number; view: Float32Array };
}

export interface AdamWState {
  step: number;
  /** First and second moments per parameter (views into the kernel memories; copy them to keep them). */
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  private readonly slots: Slot[];
  private stepCount = 0;

  constructor(
    private readonly params: readonly Trainable[],
    readonly options: AdamWOptions,
  ) {
    const plan = planBanks(params.map((p) => p.value.length * 8));
    const banks = plan.bytes.map((bytes) => new Bank(bytes));
    this.slots = params.map((p, k) => {
      const bank = banks[plan.bankOf[k]!]!;
      return { bank, m: bank.allocate(p.value.length), v: bank.allocate(p.value.length) };
    });
  }

  get state(): AdamWState {
    return { step: this.stepCount, m: this.slots.map((s) => s.m.view), v: this.slots.map((s) => s.v.view) };
  }

  /** Restore a saved state (resume): moments copied in, the step count set. */
  load(state: AdamWState): void {
    if (state.m.length !== this.slots.length || state.v.length !== this.slots.length)
      throw new Error(`optimizer state has ${state.m.length} tensors, the parameters ${this.slots.length}`);
    this.slots.forEach((s, k) => {
      if (state.m[k]!.length !== s.m.view.length || state.v[k]!.length !== s.v.view.length)
        throw new Error(
          `optimizer state tensor ${k} has ${state.m[k]!.length} values, expected ${s.m.view.length}`,
        );
      s.m.view.set(state.m[k]!);
      s.v.view.set(state.v[k]!);
    });
    this.stepCount = state.step;
  }

  /** One update at learning rate `lr`; gradients are scaled by `gradScale` first (clipping, averaging). */
  step(lr: number, gradScale = 1): void {
    const { betas, eps, weightDecay } = this.options;
    const [b1, b2] = betas;
    const t = ++this.stepCount;
    const stepSize = lr / (1 - b1 ** t);
    const sqrtBc2 = Math.sqrt(1 - b2 ** t);
    const decay = 1 - lr * weightDecay;
    this.params.forEach((p, k) => {
      const { bank, m, v } = this.slots[k]!;
      const { heap, kernel, scratchTheta, scratchGrad } = bank;
      const n = p.value.length;
      for (let start = 0; start < n; start += CHUNK) {
        const len = Math.min(CHUNK, n - start);
        heap.set(p.value.subarray(start, start + len), scratchTheta / 4);
        heap.set(p.grad.subarray(start, start + len), scratchGrad / 4);
        kernel.adamw(
          scratchTheta,
          scratchGrad,
          m.offset + start * 4,
          v.offset + start * 4,
          len,
          b1,
          b2,
          gradScale,
          stepSize,
          sqrtBc2,
          eps,
          decay,
        );
        p.value.set(heap.subarray(scratchTheta / 4, scratchTheta / 4 + len), start);
      }
    });
  }
}

/** Consecutive parameters share a bank until its moments would pass BANK_STATE_BYTES. */
function planBanks(stateBytes: number[]): { bankOf: number[]; bytes: number[] } {
  const bankOf: number[] = [];
  const bytes: number[] = [];
  for (const b of stateBytes) {
    const need = b + 32; // alignment of m and v
    if (need > MAX_BANK_BYTES)
      throw new RangeError(`a parameter of ${b / 8} values is too large for the optimizer`);
    const last = bytes.length - 1;
    if (last >= 0 && bytes[last]! + need <= BANK_STATE_BYTES) bytes[last]! += need;
    else bytes.push(need);
    bankOf.push(bytes.length - 1);
  }
  return { bankOf, bytes };
}

function align(offset: number): number {
  return (offset + 15) & ~15;
}

let normBank: Bank | null = null;

/**
 * ‖g‖₂ over every parameter's gradient, as clip_grad_norm_ takes it: each g² summed in float64, by the kernel's
 * sumSquares over the gradients streamed through a scratch area (a JavaScript loop took 3 ns a value).
 */
export function globalGradNorm(params: readonly Trainable[]): number {
  normBank ??= new Bank(0);
  const { heap, kernel, scratchGrad } = normBank;
  let sum = 0;
  for (const p of params) {
    const g = p.grad;
    for (let start = 0; start < g.length; start += CHUNK) {
      const len = Math.min(CHUNK, g.length - start);
      heap.set(g.subarray(start, start + len), scratchGrad / 4);
      sum += kernel.sumSquares(scratchGrad, len);
    }
  }
  return Math.sqrt(sum);
}

/** The factor clip_grad_norm_ multiplies every gradient by: min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number | null): number {
  if (maxNorm === null || maxNorm <= 0) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
