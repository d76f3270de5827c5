#!/usr/bin/env node
/**
 * One TIES trial: `lethe-merge MERGE_CONFIG CKPT --models.<i>.parameters.<p>=<v> ...`, then
 * `lethe-eval run CKPT ...` (`lethe-eval run BASE --adapter CKPT` when the merge made an adapter), scores logged
 * to the trial's run. See ties-density-weight.yml.
 *   --merge_config=FILE   the mergekit YAML (default examples/sweeps/ties-zju.yml)
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { cli, stageThenEval } from "./lib/stage-trial.mjs";

let config = "examples/sweeps/ties-zju.yml";
const rest = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith("--merge_config=")) config = arg.slice("--merge_config=".length);
  else rest.push(arg);
}
process.argv.splice(2, process.argv.length - 2, ...rest);

await stageThenEval({
  name: "ties-merge",
  makeStageArgv: (checkpoint, overrides) => [
    ...cli("merger", "lethe-merge"),
    config,
    checkpoint,
    "--quiet",
    ...overrides,
  ],
  // A merge of LoRA adapters is an adapter: score it on the merge's base model.
  evaluated: (checkpoint) =>
    existsSync(join(checkpoint, "adapter_config.json"))
      ? [parse(readFileSync(config, "utf8")).base_model, "--adapter", checkpoint]
      : checkpoint,
});
