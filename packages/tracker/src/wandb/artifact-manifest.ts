/**
 * A W&B artifact that references a checkpoint by URI instead of holding its bytes: the manifest has one
 * entry whose `ref` is the URI, with the URI itself as the digest (W&B's form for references logged
 * without checksumming). The artifact digest is W&B's MANIFEST_MD5: md5 over a fixed header line and the
 * sorted "name:digest" lines of the entries.
 */
import { createHash } from "node:crypto";
import type { ArtifactRecord } from "../types.js";

export interface ManifestEntry {
  digest: string;
  ref: string;
  extra: Record<string, unknown>;
}

export interface ArtifactManifest {
  version: 1;
  storagePolicy: "wandb-storage-policy-v1";
  storagePolicyConfig: { storageLayout: "V2" };
  contents: Record<string, ManifestEntry>;
}

/** The entry name for a URI: its last path segment (`s3://b/ckpt/step-100/` → `step-100`). */
export function entryName(uri: string, fallback: string): string {
  const path = uri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split(/[?#]/)[0] ?? "";
  const segments = path.split("/").filter((s) => s.length > 0);
  return segments.length > 1 ? segments[segments.length - 1]! : fallback;
}

export function referenceManifest(artifact: ArtifactRecord): ArtifactManifest {
  return {
    version: 1,
    storagePolicy: "wandb-storage-policy-v1",
    storagePolicyConfig: { storageLayout: "V2" },
    contents: {
      [entryName(artifact.uri, artifact.name)]: { digest: artifact.uri, ref: artifact.uri, extra: {} },
    },
  };
}

export function manifestDigest(manifest: ArtifactManifest): string {
  const hash = createHash("md5").update("wandb-artifact-manifest-v1\n");
  for (const name of Object.keys(manifest.contents).sort()) {
    hash.update(`${name}:${manifest.contents[name]!.digest}\n`);
  }
  return hash.digest("hex");
}
