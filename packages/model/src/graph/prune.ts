/**
 * Keep only what a graph's outputs need. ONNX Runtime runs every node of a model, used or not (20 unused
 * 1024² MatMuls measured 253 ms against 19 ms without them), and a gradient leaves behind forward outputs and
 * rule by-products nobody reads; this removes them, with the constants and inputs only they used.
 */
import type { Graph, Node, Value } from "./ir.js";

export interface PruneStats {
  nodes: number;
  inputs: number;
  constants: number;
}

/** Remove, in place, every node, constant and input that no graph output depends on; returns the counts removed. */
export function prune(graph: Graph): PruneStats {
  const needed = new Set<Value>(graph.outputs);
  const keep = new Set<Node>();
  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n]!;
    if (!node.outputs.some((y) => needed.has(y))) continue;
    keep.add(node);
    for (const x of node.inputs) needed.add(x);
  }
  const removed = {
    nodes: filterInPlace(graph.nodes, (node) => keep.has(node)),
    inputs: filterInPlace(graph.inputs, (v) => needed.has(v)),
    constants: filterInPlace(graph.constants, (v) => needed.has(v)),
  };
  return removed;
}

function filterInPlace<T>(items: T[], keep: (item: T) => boolean): number {
  let w = 0;
  for (const item of items) if (keep(item)) items[w++] = item;
  const removed = items.length - w;
  items.length = w;
  return removed;
}
