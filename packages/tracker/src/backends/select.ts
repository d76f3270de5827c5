/** `LETHE_TRACKER=local|wandb|none`, or several at once: `LETHE_TRACKER=local,wandb`. */
import { FormatError } from "@lethe/core";

export type BackendName = "local" | "wandb" | "none";
const NAMES: readonly BackendName[] = ["local", "wandb", "none"];

/**
 * The backends a spec names, in order, without duplicates. Unset or empty means `local`; `none` means no
 * backend and cannot be combined with others.
 */
export function parseTrackerSpec(
  spec: string | readonly string[] | undefined,
  source = "LETHE_TRACKER",
): BackendName[] {
  const parts =
    spec === undefined
      ? []
      : (typeof spec === "string" ? spec.split(",") : [...spec])
          .map((p) => p.trim().toLowerCase())
          .filter((p) => p.length > 0);
  if (parts.length === 0) return ["local"];
  const names: BackendName[] = [];
  for (const part of parts) {
    if (!NAMES.includes(part as BackendName)) {
      throw new FormatError(
        `${source}: unknown backend ${JSON.stringify(part)} (expected local, wandb or none)`,
      );
    }
    if (!names.includes(part as BackendName)) names.push(part as BackendName);
  }
  if (names.includes("none") && names.length > 1) {
    throw new FormatError(`${source}: "none" cannot be combined with other backends (${names.join(",")})`);
  }
  return names.filter((n) => n !== "none");
}
