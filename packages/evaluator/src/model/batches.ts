/**
 * Run `fn` over `items` in batches of `batchSize`, grouping items of similar length (by `length`) so that
 * left padding wastes little, and return the results in the original order.
 */
export async function mapInBatches<T, R>(
  items: readonly T[],
  batchSize: number,
  length: (item: T) => number,
  fn: (batch: T[]) => Promise<R[]>,
  onBatch?: (done: number, total: number) => void,
): Promise<R[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batch size must be ≥ 1, got ${batchSize}`);
  const order = items.map((_, i) => i).sort((a, b) => length(items[b]!) - length(items[a]!) || a - b);
  const results = new Array<R>(items.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    const out = await fn(indices.map((i) => items[i]!));
    if (out.length !== indices.length) {
      throw new Error(`model returned ${out.length} results for a batch of ${indices.length}`);
    }
    indices.forEach((i, k) => {
      results[i] = out[k]!;
    });
    onBatch?.(Math.min(start + batchSize, order.length), order.length);
  }
  return results;
}
