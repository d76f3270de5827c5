#!/usr/bin/env node
/**
 * One RMU trial: train with the RMU stage, then `lethe-eval run` the result, scores logged to the
 * trial's run. See rmu-alpha-steering-layer.yml and adaptive-rmu-beta-layer.yml.
 *   --trainer="lethe-model train rmu"   the stage command (words split on spaces); it gets
 *                                       --base BASE --out CKPT and every other flag as given
 *                                       (--alpha, --steering-coeff or --beta, --layer, ...)
 *   --base=CKPT                          the model to unlearn from
 */
import { cli, stageThenEval } from "./lib/stage-trial.mjs";

let trainer = "lethe-model train rmu";
let base = "checkpoints/olmo-1b";
const rest = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith("--trainer=")) trainer = arg.slice("--trainer=".length);
  else if (arg.startsWith("--base=")) base = arg.slice("--base=".length);
  else rest.push(arg);
}
process.argv.splice(2, process.argv.length - 2, ...rest);

const [bin, ...subcommand] = trainer.split(" ");
const argv0 = bin === "lethe-model" ? cli("model", "lethe-model") : [bin];
await stageThenEval({
  name: "rmu",
  parents: [base],
  makeStageArgv: (checkpoint, flags) => [
    ...argv0,
    ...subcommand,
    "--base",
    base,
    "--out",
    checkpoint,
    ...flags,
  ],
});
