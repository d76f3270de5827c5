/**
 * How a tensor is cut into blocks for threads. Blocks depend only on the tensor's shape, never on the
 * thread count, and their partial results (histograms, norms, statistics) are combined in block order,
 * so a merge is bit-identical with 1 or 16 threads.
 */
export const BLOCK_ELEMENTS = 1 << 20;

export interface Block {
  start: number;
  end: number;
}

/** Element ranges of about BLOCK_ELEMENTS; with `rows`, whole rows of `cols` elements (for DELLA). */
export function blocksOf(
  numel: number,
  rowAligned?: { cols: number },
  blockElements = BLOCK_ELEMENTS,
): Block[] {
  const blocks: Block[] = [];
  const cols = Math.max(1, rowAligned?.cols ?? 1);
  const step = rowAligned ? Math.max(1, Math.floor(blockElements / cols)) * cols : blockElements;
  for (let start = 0; start < numel; start += step)
    blocks.push({ start, end: Math.min(numel, start + step) });
  if (blocks.length === 0) blocks.push({ start: 0, end: 0 });
  return blocks;
}
