/** One entry point from a graph request to its graph: the forward graphs and the training graphs derived from them. */
import type { Graph } from "../graph/ir.js";
import {
  buildEmbedGraph,
  buildHeadGraph,
  buildLayerGraph,
  buildModelGraph,
  type GraphRequest,
  type TrainingGraphOptions,
} from "./graphs.js";
import { buildTrainingGraph } from "./training-graphs.js";

const NO_TRAINING: TrainingGraphOptions = {
  trainable: [],
  inputGrad: false,
  kl: false,
  logprobs: false,
  statistics: false,
};

export function buildGraph(req: GraphRequest): Graph {
  switch (req.kind) {
    case "embed":
      return buildEmbedGraph(req.config, req.options);
    case "layer":
      return buildLayerGraph(req.config, req.options, req.kvCache ?? false);
    case "head":
      return buildHeadGraph(req.config, req.options, false);
    case "logprobs":
      return buildHeadGraph(req.config, req.options, true);
    case "model":
      return buildModelGraph(req.config, req.options, req.hidden ?? false);
    case "loss_head":
    case "loss_head_grad":
    case "layer_grad":
    case "embed_grad":
      return buildTrainingGraph(req.kind, req.config, req.options, req.training ?? NO_TRAINING);
  }
}
