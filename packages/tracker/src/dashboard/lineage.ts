/**
 * Artifact lineage: which checkpoints were made from which. Nodes are the checkpoints runs recorded with
 * `run.artifact(name, type, uri, metadata)`; an edge parent → child comes from
 *   1. `metadata.parents` (a list of URIs) on the child's artifact record, and
 *   2. the `parents` of the checkpoint's own `lethe.json` manifest, when the URI is a local path or
 *      `file://` URI the dashboard can read (it never reaches out to S3).
 * A parent that no run recorded still appears, as a node without a run. URIs are compared after
 * turning `file://` into a path and dropping trailing slashes.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { listRuns, readRun } from "../local/reader.js";

export interface LineageNode {
  id: string;
  uri: string;
  name: string | null;
  type: string | null;
  /** The stage from the checkpoint's manifest (train, merge, ...), when readable. */
  stage: string | null;
  run_id: string | null;
  run_name: string | null;
}

export interface Lineage {
  nodes: LineageNode[];
  edges: { from: string; to: string }[];
}

export function normalizeUri(uri: string): string {
  let u = uri.trim();
  if (u.startsWith("file://")) {
    try {
      u = fileURLToPath(u);
    } catch {
      u = u.slice("file://".length);
    }
  }
  if (isAbsolute(u)) u = resolve(u);
  return u.length > 1 ? u.replace(/\/+$/, "") : u;
}

function localPath(id: string): string | null {
  return isAbsolute(id) ? id : null;
}

async function readManifestInfo(id: string): Promise<{ stage: string | null; parents: string[] } | null> {
  const path = localPath(id);
  if (path === null) return null;
  try {
    const manifest = JSON.parse(await readFile(join(path, "lethe.json"), "utf8")) as {
      stage?: unknown;
      parents?: unknown;
    };
    return {
      stage: typeof manifest.stage === "string" ? manifest.stage : null,
      parents: Array.isArray(manifest.parents)
        ? manifest.parents.filter((p): p is string => typeof p === "string")
        : [],
    };
  } catch {
    return null;
  }
}

export async function buildLineage(runsDir: string): Promise<Lineage> {
  const runs = await listRuns(runsDir);
  const nodes = new Map<string, LineageNode>();
  const edges = new Map<string, { from: string; to: string }>();
  const addNode = (uri: string): LineageNode => {
    const id = normalizeUri(uri);
    let node = nodes.get(id);
    if (!node) {
      node = { id, uri, name: null, type: null, stage: null, run_id: null, run_name: null };
      nodes.set(id, node);
    }
    return node;
  };
  const addEdge = (from: string, to: string) => {
    const a = normalizeUri(from);
    const b = normalizeUri(to);
    if (a !== b) edges.set(`${a}\u0000${b}`, { from: a, to: b });
  };

  for (const run of runs) {
    const contents = await readRun(run.dir).catch(() => null);
    if (!contents) continue;
    for (const artifact of contents.artifacts) {
      const node = addNode(artifact.uri);
      // A stage's inputs are recorded too (role "input"): they name the node, but the run that made it
      // is the one that recorded it as its output.
      const input = artifact.metadata["role"] === "input";
      if (input && node.run_id !== null) continue;
      node.name = artifact.name;
      node.type = artifact.type;
      node.run_id = input ? null : run.meta.id;
      node.run_name = input ? null : run.meta.name;
      const parents = artifact.metadata.parents;
      if (Array.isArray(parents)) {
        for (const p of parents) {
          if (typeof p !== "string") continue;
          addNode(p);
          addEdge(p, artifact.uri);
        }
      }
    }
  }
  // Follow manifests up the tree: a parent found in one manifest may have a manifest of its own.
  const visited = new Set<string>();
  for (
    let pending = [...nodes.values()];
    pending.length > 0;
    pending = [...nodes.values()].filter((n) => !visited.has(n.id))
  ) {
    for (const node of pending) {
      visited.add(node.id);
      const manifest = await readManifestInfo(node.id);
      if (!manifest) continue;
      node.stage = manifest.stage;
      for (const p of manifest.parents) {
        addNode(p);
        addEdge(p, node.id);
      }
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}
