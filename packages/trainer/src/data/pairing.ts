/**
 * ZJU's epoch (docs/unlearning.md §1.2): the epoch has |forget| examples; example i is forget row i with
 * retain row i mod |retain|. The pairs are fixed; shuffling (HF's RandomSampler) reorders pairs, it never
 * re-pairs them.
 */
import { chunks, seededOrder } from "./order.js";

export interface PairedBatch {
  /** Indices into the forget rows. */
  forget: number[];
  /** Indices into the retain rows, one per forget index (empty when there is no retain set). */
  retain: number[];
}

export interface EpochOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  /** 0-based; each epoch has its own order. */
  epoch: number;
}

export function pairedEpoch(forgetCount: number, retainCount: number, o: EpochOptions): PairedBatch[] {
  if (forgetCount < 1) throw new RangeError("the forget set is empty");
  const order = seededOrder(forgetCount, o.shuffle, o.seed, `pairs/epoch-${o.epoch}`);
  return chunks(order, o.batchSize).map((forget) => ({
    forget,
    retain: retainCount > 0 ? forget.map((i) => i % retainCount) : [],
  }));
}
