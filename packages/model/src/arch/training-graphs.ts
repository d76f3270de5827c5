/**
 * The graphs a training step runs, derived from the forward graphs of graphs.ts by `gradient` and `prune`.
 * Every weight stays a graph input, so one session per (architecture, trainable set) serves every layer, every
 * step and the frozen reference (LoRA scaling fed as 0).
 *
 * - loss_head: hidden → final norm → lm_head → log-softmax; outputs `token_logprobs` [batch, seq] = log p(label)
 *   for `labels` [batch, seq] (the trainer puts the next token there), with `kl` also `kl` [batch, seq] =
 *   Σ_v p_ref·(log p_ref − log p_θ) from `ref_logprobs` [batch, seq, V], with `logprobs` also the full
 *   log-softmax (what a reference pass hands to the policy's KL).
 * - loss_head_grad: the loss head recomputed, fed `grad.token_logprobs` (and `grad.kl`): outputs `grad.hidden`
 *   and `grad.<w>` for the trainable head weights (`lm_head.weight`, `model.norm.weight`).
 * - layer_grad: the decoder layer recomputed from its input `hidden`, fed `grad.hidden_out`: outputs
 *   `grad.<w>` for the layer's trainable inputs and, unless it is the lowest layer that needs one, `grad.hidden`.
 * - embed_grad: `grad.hidden` [batch, seq, D] of the embedding output → `grad.model.embed_tokens.weight`.
 *
 * Scalar losses (NPO's log-sigmoid, reductions, weights) are the trainer's: it computes them on the host from
 * these per-token statistics and feeds their cotangents back, so the graphs stay loss-agnostic.
 */
import type { ModelConfig } from "../config.js";
import { gradient } from "../graph/gradient.js";
import { Graph, type Value } from "../graph/ir.js";
import { exp, gatherElements, logSoftmax, mul, reduceSum, squeeze, sub, unsqueeze } from "../graph/ops.js";
import { prune } from "../graph/prune.js";
import type { BuildOptions } from "./common.js";
import { Params } from "./common.js";
import {
  buildEmbedGraph,
  buildLayerGraph,
  finalNorm,
  LM_HEAD_WEIGHT,
  lmHead,
  type TrainingGraphOptions,
} from "./graphs.js";

export type TrainingGraphKind = "loss_head" | "loss_head_grad" | "layer_grad" | "embed_grad";

export function buildTrainingGraph(
  kind: TrainingGraphKind,
  c: ModelConfig,
  opts: BuildOptions,
  t: TrainingGraphOptions,
): Graph {
  switch (kind) {
    case "loss_head": {
      const { graph, stats } = lossHead(c, opts, t);
      for (const [name, v] of stats) graph.output(v, name);
      return graph;
    }
    case "loss_head_grad": {
      const { graph, stats } = lossHead(c, opts, { ...t, logprobs: false });
      return differentiate(graph, stats, t);
    }
    case "layer_grad": {
      const graph = buildLayerGraph(c, opts, false);
      return differentiate(graph, [["hidden_out", graph.outputs[0]!]], t);
    }
    case "embed_grad": {
      const graph = buildEmbedGraph(c, opts);
      return differentiate(graph, [["hidden", graph.outputs[0]!]], {
        ...t,
        trainable: ["model.embed_tokens.weight"],
        inputGrad: false,
      });
    }
  }
}

/** The loss statistics of the head, by output name. */
function lossHead(c: ModelConfig, opts: BuildOptions, t: TrainingGraphOptions) {
  const graph = new Graph("loss_head");
  const p = new Params(graph);
  const hidden = graph.input("hidden", "float32", ["batch", "seq", c.hiddenSize]);
  const labels = graph.input("labels", "int64", ["batch", "seq"]);
  const logprobs = logSoftmax(lmHead(p, finalNorm(p, hidden, c), c, opts, LM_HEAD_WEIGHT), -1);
  const stats: [string, Value][] = [
    ["token_logprobs", squeeze(gatherElements(logprobs, unsqueeze(labels, [2]), 2), [2])],
  ];
  if (t.kl) {
    const ref = graph.input("ref_logprobs", "float32", ["batch", "seq", c.vocabSize]);
    stats.push(["kl", reduceSum(mul(exp(ref), sub(ref, logprobs)), [2], false)]);
  }
  if (t.logprobs) stats.push(["logprobs", logprobs]);
  return { graph, stats };
}

/**
 * Replace the graph's outputs with the gradients of Σ grad.<stat> · stat with respect to the trainable inputs
 * (and `hidden` when asked), then drop everything they do not need.
 */
function differentiate(graph: Graph, stats: [string, Value][], t: TrainingGraphOptions): Graph {
  const byName = new Map(graph.inputs.map((v) => [v.name, v]));
  const wrtNames = [...(t.inputGrad ? ["hidden"] : []), ...t.trainable];
  const wrt = wrtNames.map((name) => {
    const v = byName.get(name);
    if (!v) {
      const known = graph.inputs.map((x) => x.name).join(", ");
      throw new Error(`${graph.name}: no input named "${name}" to differentiate (inputs: ${known})`);
    }
    return v;
  });
  const of = stats.map(([name, v]) => [v, graph.input(`grad.${name}`, v.dtype, v.shape)] as const);
  const grads = gradient(graph, { of, wrt });
  graph.outputs.length = 0;
  grads.forEach((g, i) => {
    if (!g) throw new Error(`${graph.name}: the loss does not depend on "${wrtNames[i]}"`);
    graph.output(g, `grad.${wrtNames[i]}`);
  });
  prune(graph);
  return graph;
}
