/**
 * Rescaling what survives trimming (merging.md §1.4).
 *
 * - "l1" (mergekit `rescaled_masked_tensor`): masked · (‖δ‖₁ / ‖masked‖₁), so the tensor keeps its L1
 *   norm; skipped when either norm is below 1e-7. The norms and their ratio are values of the dtype
 *   the sparsifier works in (bf16 stays bf16, f16 is upcast to f32 for DARE/DELLA on CPU).
 * - "inverse-density" (DARE paper, PEFT): masked / d.
 */
import type { Sparsification } from "../methods/types.js";
import type { Round, WorkingDType } from "../working-dtype.js";

const EPSILON = 1e-7;

/**
 * The dtype mergekit's sparsifier computes in: W for magnitude trimming; for random and DELLA on CPU, bf16
 * stays bf16 and f16 is upcast to f32.
 */
export function sparsifierWorkDType(working: WorkingDType, sparsification: Sparsification): WorkingDType {
  if (sparsification === "magnitude" || sparsification === "magnitude_outliers") return working;
  return working === "BF16" ? "BF16" : "F32";
}

/** The L1 rescale factor from the tensor's two norms (summed exactly, then made values of the work dtype). */
export function l1Scale(l1Before: number, l1After: number, round: Round): number {
  const before = round(l1Before);
  const after = round(l1After);
  if (before < EPSILON || after < EPSILON) return 1;
  return round(before / after);
}

export function inverseDensityScale(density: number): number {
  return density > 0 && density < 1 ? 1 / density : 1;
}
