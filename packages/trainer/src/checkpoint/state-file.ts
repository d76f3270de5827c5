/**
 * `trainer_state/state.json`: the optimizer step, the loop's progress, and the parameters in optimizer order
 * (name, shape), so a resume can name exactly what differs. The zod schema is the type.
 */
import { FormatError } from "@lethe/core";
import { z } from "zod";
import { STATE_FORMAT, STATE_VERSION, type TrainerProgress } from "./types.js";

const count = () => z.int().min(0);

export const progressSchema = z.strictObject({
  epoch: count(),
  step: count(),
  examplesSeen: count(),
  seeds: z.record(z.string(), z.number()),
  best: z
    .strictObject({
      metric: z.string(),
      value: z.number(),
      epoch: count().optional(),
      step: count().optional(),
    })
    .nullable(),
  rng: z.record(z.string(), z.unknown()).optional(),
});

export const stateFileSchema = z.strictObject({
  format: z.literal(STATE_FORMAT),
  version: z.literal(STATE_VERSION),
  mode: z.enum(["lora", "full", "select"]),
  optimizerStep: count(),
  progress: progressSchema,
  /** In optimizer order: the order of AdamW's m and v. */
  params: z.array(z.strictObject({ name: z.string().min(1), shape: z.array(count()) })),
  /** Parameters whose f32 master is in masters.safetensors (the weights hold them rounded). */
  masters: z.array(z.string()),
});
export type StateFile = z.infer<typeof stateFileSchema>;

export function checkProgress(progress: TrainerProgress, what: string): TrainerProgress {
  const parsed = progressSchema.safeParse(progress);
  if (!parsed.success) throw new FormatError(`${what}: ${describeIssue(parsed.error)}`);
  return parsed.data as TrainerProgress;
}

export function parseStateFile(bytes: Uint8Array, source: string): StateFile {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new FormatError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = stateFileSchema.safeParse(json);
  if (!parsed.success) throw new FormatError(`${source}: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `field "${issue.path.length ? issue.path.join(".") : "(root)"}": ${issue.message}`;
}
