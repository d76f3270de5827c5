import type { TaskRow } from "@lethe/core";
import { rowKind } from "@lethe/core";
import type { PredictionRow } from "../io/prediction-rows.js";
import { type BatchResume, mapInBatches } from "./batches.js";
import type { EvalModel } from "./eval-model.js";

export interface GenerateOptions {
  /** The official script's default is 256. */
  maxNewTokens?: number;
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
  /** Generations already made (by row index), and where new ones are reported. */
  resume?: BatchResume<string>;
}

export const DEFAULT_MAX_NEW_TOKENS = 256;

/** Generate for every dataset row (prompt = `input` as is) and return the rows with `generation`. */
export async function generateRows(
  model: EvalModel,
  rows: readonly TaskRow[],
  options: GenerateOptions = {},
): Promise<PredictionRow[]> {
  const maxNewTokens = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  const generations = await mapInBatches(
    rows,
    options.batchSize ?? 8,
    (row) => row.input.length,
    (batch) =>
      model.generate(
        batch.map((r) => r.input),
        { maxNewTokens },
      ),
    options.onBatch,
    options.resume,
  );
  return rows.map((row, i) => ({ ...row, kind: rowKind(row.id), generation: generations[i]! }));
}
