import { stringify } from "yaml";
import { keysAt, nodeAt } from "./paths.js";
import { type DraftTrainConfig, type TrainConfig, trainConfigSchema } from "./schema.js";

/** A copy with the keys in schema order; a field still missing (in a draft) shows as null. */
function inSchemaOrder(value: Record<string, unknown>, path: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keysAt(trainConfigSchema, path)) {
    const field = value[key];
    const isSection = nodeAt(trainConfigSchema, [...path, key])?.kind === "section";
    out[key] =
      isSection && typeof field === "object" && field !== null
        ? inSchemaOrder(field as Record<string, unknown>, [...path, key])
        : (field ?? null);
  }
  return out;
}

/**
 * The resolved config as YAML (`--print-config`); reading it back gives the same config. In a draft, the
 * fields still to fill in (`model`, `out`, `data.forget`) show as null.
 */
export function printConfig(config: TrainConfig | DraftTrainConfig): string {
  return stringify(inSchemaOrder(config as Record<string, unknown>, []), { lineWidth: 0 });
}
