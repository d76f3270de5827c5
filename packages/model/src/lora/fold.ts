/**
 * Folding a LoRA module into its base weight: W ← W + scaling · B·A. After folding, the model runs the plain
 * graphs (no LoRA inputs) and can be saved as an ordinary checkpoint.
 */
import type { LoraModule } from "./peft.js";

/** Add scaling · B·A to `weight` ([out, in], row-major) in place; accumulates each element in float64. */
export function foldLoraInto(weight: Float32Array, m: LoraModule, scaling: number): Float32Array {
  const { a, b, rank, inFeatures, outFeatures } = m;
  if (weight.length !== inFeatures * outFeatures) {
    throw new Error(`fold: weight has ${weight.length} values, expected ${outFeatures}×${inFeatures}`);
  }
  const row = new Float64Array(inFeatures);
  for (let o = 0; o < outFeatures; o++) {
    row.fill(0);
    for (let k = 0; k < rank; k++) {
      const s = b[o * rank + k]!;
      if (s === 0) continue;
      const aRow = k * inFeatures;
      for (let i = 0; i < inFeatures; i++) row[i]! += s * a[aRow + i]!;
    }
    const wRow = o * inFeatures;
    for (let i = 0; i < inFeatures; i++) weight[wRow + i]! += scaling * row[i]!;
  }
  return weight;
}
