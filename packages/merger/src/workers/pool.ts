/**
 * Worker threads for block kernels. Tensors live in SharedArrayBuffers (`allocate`), so a block job
 * carries views, not copies; each worker takes the next block when it is free. When running from the
 * TypeScript sources (tests, tsx), workers load tsx's loader first so they can import the .ts kernels.
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { BlockRunner } from "../engine/runner.js";
import { type KernelArgs, type KernelName, type KernelResult, runKernel } from "../kernels/index.js";
import {
  ARENA_HEADER_BYTES,
  ARENA_SLOT_BYTES,
  ARENA_TAIL_BYTES,
  bindArenaMemory,
  boundTo,
  createArenaMemory,
} from "../kernels/simd.js";
import { Arena } from "./arena.js";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

function spawn(): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const target = new URL("./worker.ts", here).href;
    const require = createRequire(here);
    const tsxRoot = path.dirname(require.resolve("tsx/package.json"));
    const api = pathToFileURL(path.join(tsxRoot, "dist", "esm", "api", "index.mjs")).href;
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(fileURLToPath(new URL("./worker.js", here)));
}

/** Throws if a buffer that a worker must share is a plain ArrayBuffer (it would be copied, not shared). */
function checkShared(value: unknown, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== "object") return;
  if (ArrayBuffer.isView(value)) {
    if (!(value.buffer instanceof SharedArrayBuffer) && value.byteLength > 1 << 16) {
      throw new Error("internal: a large tensor buffer passed to a worker is not shared memory");
    }
    return;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) checkShared(v, depth + 1);
}

export class WorkerPool implements BlockRunner {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: { id: number; kernel: KernelName; args: unknown[] }[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 1)
      throw new Error(`threads must be a positive integer, got ${threads}`);
  }

  /**
   * Tensor memory comes from one arena sized to the merge's budget (`useArena`), reused tensor after tensor.
   * Buffers that do not fit there are recycled rather than left to the garbage collector: a worker that saw a
   * buffer keeps a reference to it until its own isolate collects, which can be much later, so memory would
   * pile up. They are reused for tensors of the same byte size, and at most `maxIdleBytes` are kept idle.
   */
  private arena: Arena | null = null;
  private readonly idle = new Map<number, SharedArrayBuffer[]>();
  private idleBytes = 0;
  maxIdleBytes = 2 ** 31;

  /** The kernels' shared memory holding the arena, when it fits in one (≤ 4 GiB); sent to every worker. */
  private arenaMemory: WebAssembly.Memory | null = null;

  /**
   * Take tensor memory from an arena of at least `bytes` (a larger one, or one in use, is kept). Up to 4 GiB it
   * lives in the SIMD kernels' shared memory, after a header and one scratch slot per thread, so the kernels
   * work on tensors in place; beyond, it is a plain shared buffer and the kernels copy chunks.
   */
  useArena(bytes: number): void {
    if (this.arena && (this.arena.capacity >= bytes || this.arena.used > 0)) return;
    const slots = ARENA_HEADER_BYTES + (this.threads + 1) * ARENA_SLOT_BYTES;
    const memory = createArenaMemory(slots + bytes + ARENA_TAIL_BYTES);
    this.unbind();
    this.arenaMemory = memory;
    this.arena = memory
      ? new Arena(bytes, { buffer: memory.buffer as SharedArrayBuffer, offset: slots })
      : new Arena(bytes);
    if (!memory) return;
    bindArenaMemory(memory, ARENA_HEADER_BYTES); // this thread: slot 0
    this.slots.forEach((slot, i) => {
      this.bind(slot.worker, i);
    });
  }

  private bind(worker: Worker, index: number): void {
    if (!this.arenaMemory) return;
    worker.postMessage({
      bind: { memory: this.arenaMemory, scratch: ARENA_HEADER_BYTES + (index + 1) * ARENA_SLOT_BYTES },
    });
  }

  /** Drop every thread's binding to this pool's arena memory, so that nothing keeps it alive. */
  private unbind(): void {
    if (!this.arenaMemory) return;
    if (boundTo(this.arenaMemory)) bindArenaMemory(null);
    for (const slot of this.slots) slot.worker.postMessage({ bind: null });
    this.arenaMemory = null;
  }

  /** Bytes of the arena handed out now (0 without an arena). */
  get arenaUsed(): number {
    return this.arena?.used ?? 0;
  }

  tryAllocateAll(sizes: readonly number[]): Uint8Array[] | null {
    return this.arena ? this.arena.allocateAll(sizes) : null;
  }

  allocate(bytes: number): Uint8Array {
    const size = Math.max(bytes, 0);
    const fromArena = this.arena?.allocateAll([size]);
    if (fromArena) return fromArena[0]!;
    const reusable = this.idle.get(size);
    const buffer = reusable?.pop();
    if (buffer) {
      this.idleBytes -= size;
      return new Uint8Array(buffer);
    }
    return new Uint8Array(new SharedArrayBuffer(size));
  }

  release(bytes: Uint8Array): void {
    if (this.arena?.owns(bytes)) {
      this.arena.release(bytes);
      return;
    }
    const buffer = bytes.buffer;
    if (!(buffer instanceof SharedArrayBuffer) || bytes.byteLength !== buffer.byteLength) return;
    const list = this.idle.get(buffer.byteLength) ?? [];
    if (list.includes(buffer) || this.idleBytes + buffer.byteLength > this.maxIdleBytes) return;
    list.push(buffer);
    this.idle.set(buffer.byteLength, list);
    this.idleBytes += buffer.byteLength;
  }

  async map<K extends KernelName>(kernel: K, calls: KernelArgs<K>[]): Promise<KernelResult<K>[]> {
    if (this.closed) throw new Error("internal: worker pool used after close");
    // One block: no parallelism to gain, skip the round trip.
    if (calls.length <= 1 || this.threads === 1) return calls.map((args) => runKernel(kernel, args));
    for (const args of calls) checkShared(args);
    this.ensureWorkers();
    // Every job settles before this returns, even when one fails: the caller may then reuse the buffers.
    const settled = await Promise.allSettled(
      calls.map(
        (args) =>
          new Promise<KernelResult<K>>((resolve, reject) => {
            const id = this.nextId++;
            this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
            this.queue.push({ id, kernel, args: args as unknown[] });
            this.dispatch();
          }),
      ),
    );
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<KernelResult<K>>).value);
  }

  private ensureWorkers(): void {
    while (this.slots.length < this.threads) {
      const worker = spawn();
      const slot: Slot = { worker, busy: false };
      worker.on("message", (msg: { id: number; result?: unknown; error?: string }) => {
        slot.busy = false;
        worker.unref(); // an idle worker does not keep the process alive
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (p) {
          if (msg.error !== undefined) p.reject(new Error(msg.error));
          else p.resolve(msg.result);
        }
        this.dispatch();
      });
      worker.on("error", (err) => this.failAll(err));
      worker.unref();
      this.bind(worker, this.slots.length);
      this.slots.push(slot);
    }
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const job = this.queue.shift();
      if (!job) return;
      slot.busy = true;
      slot.worker.ref();
      slot.worker.postMessage(job);
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unbind();
    this.arena = null;
    this.idle.clear();
    this.idleBytes = 0;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
