/**
 * Encoded rows to one left-padded micro-batch in @lethe/model's TokenBatch layout (positions count from each
 * row's first real token, pads get position 1 and mask 0), with labels −100 on the padding.
 */
import { FormatError } from "@lethe/core";
import type { TokenBatch } from "@lethe/model";
import { type EncodedRow, IGNORE } from "./encode.js";

export interface TrainBatch extends TokenBatch {
  /** [batch, seq] Hugging Face labels: the token at t, or −100 where it is not scored (prompt, padding). */
  labels: BigInt64Array;
}

/** Left-pad `rows` to `seq` tokens (default: the longest row). */
export function collate(rows: readonly EncodedRow[], padId: number, seq?: number): TrainBatch {
  if (rows.length === 0) throw new FormatError("collate: the batch is empty");
  const longest = Math.max(...rows.map((r) => r.ids.length));
  const width = seq ?? longest;
  if (longest > width)
    throw new FormatError(`collate: a row has ${longest} tokens, more than seq = ${width}`);
  const batch = rows.length;
  const ids = new BigInt64Array(batch * width).fill(BigInt(padId));
  const labels = new BigInt64Array(batch * width).fill(BigInt(IGNORE));
  const mask = new Uint8Array(batch * width);
  const positions = new Int32Array(batch * width).fill(1);
  rows.forEach((row, b) => {
    if (row.ids.length === 0) throw new FormatError(`collate: row ${b} has no tokens`);
    if (row.labels.length !== row.ids.length) {
      throw new FormatError(`collate: row ${b} has ${row.ids.length} ids but ${row.labels.length} labels`);
    }
    const start = b * width + (width - row.ids.length);
    row.ids.forEach((id, t) => {
      ids[start + t] = BigInt(id);
      labels[start + t] = BigInt(row.labels[t] as number);
      mask[start + t] = 1;
      positions[start + t] = t;
    });
  });
  return { batch, seq: width, ids, mask, positions, labels, lengths: rows.map((r) => r.ids.length) };
}

/**
 * The next-token targets of HF labels: position t is scored on the label at t + 1 (the last position on
 * nothing), which is what a logits LossTarget's `labels` expects.
 */
export function nextTokenLabels(labels: BigInt64Array, batch: number, seq: number): BigInt64Array {
  const out = new BigInt64Array(batch * seq).fill(BigInt(IGNORE));
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t + 1 < seq; t++) out[b * seq + t] = labels[b * seq + t + 1] as bigint;
  }
  return out;
}
