/** Results already computed (by item index), and where new ones are reported as each batch finishes. */
export interface BatchResume<R> {
  known?: ReadonlyMap<number, R>;
  onResults?: (indices: readonly number[], results: readonly R[]) => void;
}

/**
 * Run `fn` over `items` in batches of `batchSize`, grouping items of similar length (by `length`) so that
 * left padding wastes little, and return the results in the original order. Items in `resume.known` are not
 * computed again.
 */
export async function mapInBatches<T, R>(
  items: readonly T[],
  batchSize: number,
  length: (item: T) => number,
  fn: (batch: T[]) => Promise<R[]>,
  onBatch?: (done: number, total: number) => void,
  resume: BatchResume<R> = {},
): Promise<R[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batch size must be ≥ 1, got ${batchSize}`);
  const results = new Array<R>(items.length);
  const todo: number[] = [];
  items.forEach((_, i) => {
    const known = resume.known?.get(i);
    if (known === undefined) todo.push(i);
    else results[i] = known;
  });
  const order = todo.sort((a, b) => length(items[b]!) - length(items[a]!) || a - b);
  const already = items.length - order.length;
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    const out = await fn(indices.map((i) => items[i]!));
    if (out.length !== indices.length) {
      throw new Error(`model returned ${out.length} results for a batch of ${indices.length}`);
    }
    indices.forEach((i, k) => {
      results[i] = out[k]!;
    });
    resume.onResults?.(indices, out);
    onBatch?.(already + Math.min(start + batchSize, order.length), items.length);
  }
  return results;
}
