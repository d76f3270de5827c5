/** config.json for the output: the base's (else the first model's), with torch_dtype and vocab size updated. */
import { type FloatDType, type JsonObject, TORCH_DTYPE } from "@lethe/core";

export function outputModelConfig(
  source: JsonObject | null,
  torchDtype: FloatDType | null,
  embeddingRows: number | null,
): JsonObject | null {
  if (!source) return null;
  const config: JsonObject = { ...source };
  if (torchDtype) {
    if ("dtype" in config && !("torch_dtype" in config)) config["dtype"] = TORCH_DTYPE[torchDtype];
    else config["torch_dtype"] = TORCH_DTYPE[torchDtype];
  }
  if (
    embeddingRows !== null &&
    typeof config["vocab_size"] === "number" &&
    config["vocab_size"] !== embeddingRows
  ) {
    config["vocab_size"] = embeddingRows;
  }
  return config;
}
