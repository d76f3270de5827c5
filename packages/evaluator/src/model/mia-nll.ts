import type { MiaRow } from "@lethe/core";
import type { NllRow } from "../io/prediction-rows.js";
import { type BatchResume, mapInBatches } from "./batches.js";
import type { EvalModel } from "./eval-model.js";

/** Mean token NLL of every MIA document (the whole document, as the official script). */
export async function documentNll(
  model: EvalModel,
  rows: readonly MiaRow[],
  options: {
    batchSize?: number;
    onBatch?: (done: number, total: number) => void;
    resume?: BatchResume<number>;
  } = {},
): Promise<NllRow[]> {
  const nll = await mapInBatches(
    rows,
    options.batchSize ?? 8,
    (row) => row.document.length,
    (batch) => model.meanNll(batch.map((r) => r.document)),
    options.onBatch,
    options.resume,
  );
  return rows.map((row, i) => ({ id: row.id, nll: nll[i]! }));
}
