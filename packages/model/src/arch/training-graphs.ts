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
 *   and `grad.<w>` for the trainable head weights (`lm_head.weight`, `model.norm.weight`), with `statistics` also
 *   the loss head's own outputs. Its cotangent on the logits is written in closed form (`logitsCotangent`); the
 *   rule table takes it from there back through lm_head and the final norm.
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
import {
  exp,
  gatherElements,
  logSoftmax,
  mul,
  neg,
  reduceSum,
  scatterElementsAdd,
  softmax,
  squeeze,
  sub,
  unsqueeze,
} from "../graph/ops.js";
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
      const head = lossHead(c, opts, { ...t, logprobs: false });
      const kept = t.statistics ? head.stats : [];
      return differentiate(head.graph, [[head.logits, logitsCotangent(head)]], t, kept);
    }
    case "layer_grad": {
      const graph = buildLayerGraph(c, opts, false);
      return differentiate(graph, cotangentInputs(graph, [["hidden_out", graph.outputs[0]!]]), t);
    }
    case "embed_grad": {
      const graph = buildEmbedGraph(c, opts);
      return differentiate(graph, cotangentInputs(graph, [["hidden", graph.outputs[0]!]]), {
        ...t,
        trainable: ["model.embed_tokens.weight"],
        inputGrad: false,
      });
    }
  }
}

interface LossHead {
  graph: Graph;
  /** [batch, seq, V] */
  logits: Value;
  /** [batch, seq, 1] the label of each position. */
  labels: Value;
  /** [batch, seq, V] p_ref, with KL. */
  refProbs: Value | null;
  /** The statistics, by output name. */
  stats: [string, Value][];
}

function lossHead(c: ModelConfig, opts: BuildOptions, t: TrainingGraphOptions): LossHead {
  const graph = new Graph("loss_head");
  const p = new Params(graph);
  const hidden = graph.input("hidden", "float32", ["batch", "seq", c.hiddenSize]);
  const labels = unsqueeze(graph.input("labels", "int64", ["batch", "seq"]), [2]);
  const logits = lmHead(p, finalNorm(p, hidden, c), c, opts, LM_HEAD_WEIGHT);
  const logprobs = logSoftmax(logits, -1);
  const stats: [string, Value][] = [["token_logprobs", squeeze(gatherElements(logprobs, labels, 2), [2])]];
  let refProbs: Value | null = null;
  if (t.kl) {
    const ref = graph.input("ref_logprobs", "float32", ["batch", "seq", c.vocabSize]);
    refProbs = exp(ref);
    stats.push(["kl", reduceSum(mul(refProbs, sub(ref, logprobs)), [2], false)]);
  }
  if (t.logprobs) stats.push(["logprobs", logprobs]);
  return { graph, logits, labels, refProbs, stats };
}

/**
 * ∂L/∂logits for L = Σ grad.token_logprobs · log p(label) + Σ grad.kl · KL(p_ref ‖ p), with p = softmax(logits):
 *
 *   c · (onehot(label) − p) + k · (p − p_ref)        c = grad.token_logprobs, k = grad.kl
 *
 * using Σ p_ref = 1 (ref_logprobs are log-probs). Written out because the log-softmax rule, fed the gather's
 * scatter into zeros, makes four more passes over these [batch, seq, V] tensors, the largest of a step.
 */
function logitsCotangent(head: LossHead): Value {
  const { graph, logits, labels, refProbs } = head;
  const c = unsqueeze(graph.input("grad.token_logprobs", "float32", ["batch", "seq"]), [2]);
  const p = softmax(logits, -1);
  let dense = mul(p, neg(c));
  if (refProbs) {
    const k = unsqueeze(graph.input("grad.kl", "float32", ["batch", "seq"]), [2]);
    dense = sub(mul(p, sub(k, c)), mul(refProbs, k));
  }
  return scatterElementsAdd(dense, labels, c, 2);
}

/** Each output paired with a new graph input `grad.<name>` of its type, its cotangent. */
function cotangentInputs(graph: Graph, outputs: [string, Value][]): [Value, Value][] {
  return outputs.map(([name, v]) => [v, graph.input(`grad.${name}`, v.dtype, v.shape)]);
}

/**
 * Replace the graph's outputs with the gradients of Σ ⟨cotangent, value⟩ over `of` with respect to the trainable
 * inputs (and `hidden` when asked), plus the values of `kept`; then drop everything they do not need.
 */
function differentiate(
  graph: Graph,
  of: [Value, Value][],
  t: TrainingGraphOptions,
  kept: [string, Value][] = [],
): Graph {
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
  const grads = gradient(graph, { of, wrt });
  graph.outputs.length = 0;
  grads.forEach((g, i) => {
    if (!g) throw new Error(`${graph.name}: the loss does not depend on "${wrtNames[i]}"`);
    graph.output(g, `grad.${wrtNames[i]}`);
  });
  for (const [name, v] of kept) graph.output(v, name);
  prune(graph);
  return graph;
}
