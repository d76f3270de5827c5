// Graph IR and ONNX encoding.

/** The onnxruntime-node instance this package runs on: create feeds with `ort.Tensor` from here. */
export * as ort from "onnxruntime-node";
export { buildGraph } from "./arch/build-graph.js";
export {
  type ArchitectureDefinition,
  type AttentionInputs,
  applyRotary,
  type BuildOptions,
  decoderLayer,
  LAYER_LINEARS,
  type LayerLinear,
  layerNormNoParams,
  linear,
  linearShapes,
  mlp,
  Params,
  repeatKv,
  rmsNorm,
  selfAttention,
} from "./arch/common.js";
export {
  ARCHITECTURES,
  buildEmbedGraph,
  buildHeadGraph,
  buildLayerGraph,
  buildModelGraph,
  EMBED_WEIGHT,
  FINAL_NORM_WEIGHT,
  type GraphKind,
  type GraphRequest,
  globalParams,
  graphKey,
  LM_HEAD_WEIGHT,
  layerParams,
  layerPrefix,
  type ParamSpec,
  type TrainingGraphOptions,
} from "./arch/graphs.js";
export { buildTrainingGraph, type TrainingGraphKind } from "./arch/training-graphs.js";
// Configs and architectures.
export {
  type Architecture,
  type ModelConfig,
  type NormKind,
  parseConfig,
  type RopeScaling as ConfigRopeScaling,
} from "./config.js";
export { ONNX_ELEMENT_TYPE } from "./graph/dtypes.js";
export { type GradientRequest, gradient, RULES as GRADIENT_RULES } from "./graph/gradient.js";
export {
  type Attrs,
  type AttrValue,
  type ConstantData,
  type DataType,
  type Dim,
  Graph,
  type Node,
  type Shape,
  staticSize,
  type TensorType,
  Value,
} from "./graph/ir.js";
export { encodeModel } from "./graph/onnx-encode.js";
export * as ops from "./graph/ops.js";
export { broadcastShapes, inferOp, OPSET_VERSION, registerOp } from "./graph/ops.js";
export { type PruneStats, prune } from "./graph/prune.js";
export * from "./init/index.js";
export { foldLoraInto } from "./lora/fold.js";
// LoRA.
export {
  type AdapterTensorSource,
  type LoraAdapter,
  type LoraConfig,
  type LoraModule,
  layerLora,
  layerModule,
  loadAdapter,
  parseAdapterConfig,
} from "./lora/peft.js";
export {
  decoderLayers,
  embed,
  type ForwardOptions,
  type ForwardResult,
  forward,
  forwardPadded,
  head,
  type StepInputs,
  stepInputs,
} from "./runtime/forward.js";
export { type GenerateOptions, type Generation, generate } from "./runtime/generate.js";
export {
  attentionBias,
  inverseFrequencies,
  leftPad,
  MASKED,
  ropeTables,
  type TokenBatch,
} from "./runtime/inputs.js";
export { type LoadModelOptions, loadAdapterFrom, loadModel } from "./runtime/load.js";
export { type ScoreOptions, type ScoreResult, score } from "./runtime/logprobs.js";
export { Model, type ModelOptions } from "./runtime/model.js";
export { argmax, type SamplingOptions, SeededRandom, selectToken } from "./runtime/sampling.js";
// Runtime.
export {
  type CompiledGraph,
  compileGraph,
  type InputSpec,
  SessionCache,
  type SessionOptions,
  sharedSessionCache,
} from "./runtime/session-cache.js";
export {
  type LayerWeights,
  type LoadWeightsOptions,
  loadWeights,
  MemoryTensorSource,
  type ModelWeights,
  parameterCount,
  type TensorSource,
} from "./runtime/weights.js";
// Tokenizers and tiny models (part B).
export * from "./tokenizer/index.js";
