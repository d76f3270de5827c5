/**
 * `lethe.json`: the manifest that makes a directory or prefix a published Lethe checkpoint. It records where
 * the checkpoint came from (stage, parents, parameters), what it scored (metrics), and the size and sha256
 * of every file, so any copy can be verified. The schema is the type.
 */
import { z } from "zod";
import { FormatError } from "../errors.js";

export const MANIFEST_FILE = "lethe.json";
export const MANIFEST_FORMAT = "lethe.checkpoint";
export const MANIFEST_VERSION = 1;

export const FileRecordSchema = z.strictObject({
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
});
export type FileRecord = z.infer<typeof FileRecordSchema>;

export const ManifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  id: z.string().min(1),
  stage: z.string().min(1),
  created: z.iso.datetime(),
  parents: z.array(z.string()),
  parameters: z.record(z.string(), z.unknown()),
  metrics: z.record(z.string(), z.unknown()),
  files: z.array(FileRecordSchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export function parseManifest(bytes: Uint8Array, source: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new FormatError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof json === "object" && json !== null && "version" in json && json.version !== MANIFEST_VERSION) {
    throw new FormatError(
      `${source}: manifest version ${String(json.version)} is not supported (this Lethe reads version ${MANIFEST_VERSION})`,
    );
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.join(".") : "(root)";
    throw new FormatError(`${source}: field "${field}": ${issue.message}`);
  }
  return parsed.data;
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(ManifestSchema.parse(manifest), null, 2)}\n`);
}
