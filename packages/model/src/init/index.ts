export {
  checkArchitecture,
  generationConfig,
  hfConfig,
  type InitKind,
  MODEL_CLASS,
  type PlannedTensor,
  type RopeScaling,
  TINY_ARCHS,
  type TinyArch,
  type TinyArchitecture,
  tensorPlan,
} from "./architecture.js";
export {
  createTinyModel,
  INIT_STAGE,
  initialValues,
  resolveTinyModel,
  type TinyModel,
  type TinyModelOptions,
} from "./create.js";
export { NormalStream, normalTensor } from "./random.js";
