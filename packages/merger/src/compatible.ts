/**
 * Models merged together must be the same network: config.json's architecture and shapes agree with the
 * base (or, without a base, the first model). Checked once all inputs are open and before any tensor is
 * read, so a Mamba config merged into an OLMo base is refused with both names instead of merging whatever
 * tensor names happen to match. vocab_size may differ (embeddings are cropped or padded to the base).
 */
import { FormatError, type JsonObject } from "@lethe/core";
import type { ModelSource } from "./sources.js";

const SHAPE_KEYS = [
  "hidden_size",
  "num_hidden_layers",
  "intermediate_size",
  "num_attention_heads",
  "num_key_value_heads",
] as const;

function architecture(config: JsonObject): string | undefined {
  const archs = config["architectures"];
  if (Array.isArray(archs) && archs.length > 0) return archs.map(String).join(",");
  return typeof config["model_type"] === "string" ? config["model_type"] : undefined;
}

export function checkCompatible(
  sources: readonly ModelSource[],
  anchor: number,
  anchorIsBase: boolean,
): void {
  const reference = sources[anchor];
  if (reference?.config == null) return;
  const refConfig = reference.config;
  const refArch = architecture(refConfig);
  const role = (s: ModelSource) => (s === reference && anchorIsBase ? "the base" : "model");
  for (const source of sources) {
    if (source === reference || source.config === null || source.kind === "adapter") continue;
    const arch = architecture(source.config);
    if (refArch !== undefined && arch !== undefined && arch !== refArch) {
      throw new FormatError(
        `model "${source.label}" (${source.uri}) is ${arch} but ${role(reference)} "${reference.label}" ` +
          `(${reference.uri}) is ${refArch}: models of different architectures cannot be merged`,
      );
    }
    for (const key of SHAPE_KEYS) {
      const a = refConfig[key];
      const b = source.config[key];
      if (a !== undefined && b !== undefined && a !== b) {
        throw new FormatError(
          `model "${source.label}" (${source.uri}) has ${key} ${String(b)} but ${role(reference)} ` +
            `"${reference.label}" (${reference.uri}) has ${String(a)}: the models do not have the same shape`,
        );
      }
    }
  }
}
