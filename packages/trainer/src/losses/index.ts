export { gradientAscent, npo, sft, simnpo } from "./output-space.js";
export {
  adaptiveCoefficient,
  type Hidden,
  mseTo,
  scaled,
  steeringDirection,
} from "./representation.js";
export { retainKl, retainNll } from "./retain.js";
export {
  type LossTerm,
  logSigmoid,
  meanTokenNll,
  rowNll,
  scoredTargets,
  sigmoid,
  type TokenScores,
  weighted,
} from "./tokens.js";
