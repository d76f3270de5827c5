import type { BuildOptions, ort } from "@lethe/model";

/** Only the feeds a (pruned) graph takes. */
export function pick(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const t = feeds[name];
    if (!t) throw new Error(`no feed for graph input "${name}"`);
    out[name] = t;
  }
  return out;
}

/** The embedding's and the head's build options: float32 MatMuls (training needs them), no LoRA. */
export const NO_LORA: BuildOptions = { matmulDtype: "float32", lora: null };
