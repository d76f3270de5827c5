/**
 * One SharedArrayBuffer handed out in pieces, so that a merge keeps reusing the same memory instead of
 * allocating fresh buffers for every tensor. Fresh memory is expensive twice over: the kernel zero-fills each
 * page on first touch (seconds of system time per merge), and a buffer that worker threads have seen is only
 * freed once every thread's garbage collector has run. The arena's pages are touched once and its size is the
 * merge's memory budget, so resident memory stays near that budget.
 *
 * First fit over a free list sorted by offset, neighbours merged on free; pieces are 64-byte aligned.
 */

const ALIGN = 64;

interface Range {
  offset: number;
  size: number;
}

export class Arena {
  private buffer: SharedArrayBuffer | null;
  /** Free ranges, sorted by offset, never adjacent (adjacent ones are merged). */
  private free: Range[];
  /** Offset → size of each piece handed out. */
  private readonly taken = new Map<number, number>();
  private usedBytes = 0;

  /**
   * `within`: hand out [offset, offset + capacity) of this buffer (the kernels' shared memory) instead of a
   * buffer of the arena's own, allocated on first use.
   */
  constructor(
    readonly capacity: number,
    within?: { buffer: SharedArrayBuffer; offset: number },
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 0)
      throw new Error(`arena capacity must be a non-negative integer, got ${capacity}`);
    const start = within?.offset ?? 0;
    if (start % ALIGN !== 0 || (within && start + capacity > within.buffer.byteLength))
      throw new Error(`internal: arena range ${start}+${capacity} does not fit its buffer`);
    this.buffer = within?.buffer ?? null;
    this.free = capacity > 0 ? [{ offset: start, size: capacity - (capacity % ALIGN) }] : [];
  }

  /** Bytes handed out and not yet given back. */
  get used(): number {
    return this.usedBytes;
  }

  /** One piece per size, all or none: null when they do not all fit now. */
  allocateAll(sizes: readonly number[]): Uint8Array[] | null {
    const plan = this.place(sizes);
    if (!plan) return null;
    if (!this.buffer) this.buffer = new SharedArrayBuffer(this.capacity);
    this.free = plan.free;
    return plan.offsets.map((offset, i) => {
      const size = aligned(sizes[i]!);
      this.taken.set(offset, size);
      this.usedBytes += size;
      return new Uint8Array(this.buffer!, offset, sizes[i]!);
    });
  }

  /** Whether a view came from this arena. */
  owns(view: Uint8Array): boolean {
    return this.buffer !== null && view.buffer === this.buffer && this.taken.has(view.byteOffset);
  }

  /** Give a piece back (views not from this arena are ignored). */
  release(view: Uint8Array): void {
    if (!this.owns(view)) return;
    const offset = view.byteOffset;
    const size = this.taken.get(offset)!;
    this.taken.delete(offset);
    this.usedBytes -= size;
    let at = this.free.findIndex((r) => r.offset > offset);
    if (at < 0) at = this.free.length;
    this.free.splice(at, 0, { offset, size });
    // Merge with the next range, then with the previous one.
    const next = this.free[at + 1];
    if (next && offset + size === next.offset) {
      this.free[at]!.size += next.size;
      this.free.splice(at + 1, 1);
    }
    const prev = this.free[at - 1];
    if (prev && prev.offset + prev.size === offset) {
      prev.size += this.free[at]!.size;
      this.free.splice(at, 1);
    }
  }

  /** First-fit offsets for `sizes` in order, and the free list that would remain, without changing anything. */
  private place(sizes: readonly number[]): { offsets: number[]; free: Range[] } | null {
    const free = this.free.map((r) => ({ ...r }));
    const offsets: number[] = [];
    for (const requested of sizes) {
      const size = aligned(requested);
      const k = free.findIndex((r) => r.size >= size);
      if (k < 0) return null;
      const range = free[k]!;
      offsets.push(range.offset);
      range.offset += size;
      range.size -= size;
      if (range.size === 0) free.splice(k, 1);
    }
    return { offsets, free };
  }
}

function aligned(bytes: number): number {
  return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
}
