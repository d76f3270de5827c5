/** Public API of local sweeps (re-exported by the package index). */

export { formatSweepSummary, runSweepCli, SWEEP_USAGE } from "./cli.js";
export { DEFAULT_COMMAND, expandCommand, formatArgValue } from "./command.js";
export {
  type Distribution,
  type DistributionParameter,
  type HyperbandConfig,
  loadSweepConfig,
  type NestedParameter,
  type Parameter,
  parseSweepConfigYaml,
  type SweepConfig,
  SweepConfigSchema,
  type SweepMetric,
  validateSweepConfig,
} from "./config.js";
export { bestTrial, runSweep, type SweepOptions, type SweepResult } from "./controller.js";
export { type HyperbandStop, type HyperbandTrial, hyperbandBands, hyperbandStops } from "./hyperband.js";
export { flattenParameters, gridValues, position, ppf, type SearchParameter } from "./parameters.js";
export { listSweeps, readSweepRecord, type SweepRecord, sweepDir, type TrialRecord } from "./record.js";
export { createRng, type Rng } from "./rng.js";
export { createBayesSearch } from "./search/bayes.js";
export { createGridSearch } from "./search/grid.js";
export { createRandomSearch } from "./search/random.js";
export {
  metricExtremum,
  type SearchStrategy,
  type TrialObservation,
  type TrialState,
} from "./search/strategy.js";
