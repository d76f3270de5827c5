/**
 * Runs block kernels: in this thread, or spread over worker threads (workers/pool.ts). Callers hand over
 * one argument list per block and get the results back in the same order.
 */
import { type KernelArgs, type KernelName, type KernelResult, runKernel } from "../kernels/index.js";

export interface BlockRunner {
  /** Run `kernel` once per argument list; results in order. */
  map<K extends KernelName>(kernel: K, calls: KernelArgs<K>[]): Promise<KernelResult<K>[]>;
  /** Memory for tensors that the kernels read or write: shared between threads when there are threads. */
  allocate(bytes: number): Uint8Array;
  /** Give memory from `allocate` back for reuse, once no kernel uses it any more. */
  release(bytes: Uint8Array): void;
  /**
   * Memory for all of `sizes` at once from a bounded reserve, or null when they do not all fit now (a caller
   * can wait for releases). Runners without such a reserve leave it out.
   */
  tryAllocateAll?(sizes: readonly number[]): Uint8Array[] | null;
  readonly threads: number;
  close(): Promise<void>;
}

/** Buffers taken for one tensor, given back together once the tensor is done. */
export class BufferScope {
  private readonly held: Uint8Array[] = [];
  private readonly reserved: Uint8Array[];

  /** `reserved`: buffers allocated ahead (by size), handed out first by `allocate`. */
  constructor(
    private readonly runner: BlockRunner,
    reserved: readonly Uint8Array[] = [],
  ) {
    this.reserved = [...reserved];
  }

  allocate(bytes: number): Uint8Array {
    const k = this.reserved.findIndex((b) => b.byteLength === bytes);
    const buffer = k >= 0 ? this.reserved.splice(k, 1)[0]! : this.runner.allocate(bytes);
    this.held.push(buffer);
    return buffer;
  }

  /** Give every buffer back, used or only reserved. */
  releaseAll(): void {
    for (const buffer of [...this.reserved, ...this.held]) this.runner.release(buffer);
    this.held.length = 0;
    this.reserved.length = 0;
  }
}

export class InlineRunner implements BlockRunner {
  readonly threads = 1;

  async map<K extends KernelName>(kernel: K, calls: KernelArgs<K>[]): Promise<KernelResult<K>[]> {
    return calls.map((args) => runKernel(kernel, args));
  }

  allocate(bytes: number): Uint8Array {
    return new Uint8Array(bytes);
  }

  release(_bytes: Uint8Array): void {}

  async close(): Promise<void> {}
}
