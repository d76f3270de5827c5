#!/usr/bin/env node
/**
 * One RMU trial: train with `lethe-train` (an RMU or Adaptive RMU preset), then `lethe-eval run` the result,
 * scores logged to the trial's run. See rmu-alpha-steering-layer.yml and adaptive-rmu-beta-layer.yml.
 *   --config=FILE          the lethe-train config (data, and anything the sweep does not set)
 *   --preset=NAME          rmu-wmdp, adaptive-rmu-1b, adaptive-rmu-7b (default adaptive-rmu-1b)
 *   --base=CKPT            the model to unlearn (lethe-train's `model`)
 *   --layer=L              the hook layer: sets --loss.rmu.layer=L and trains the MLP weights of layers
 *                          L−2..L (--params.select; the RMU papers' ℓ−2..ℓ), unless --params.select is given
 *   --threads=N            lethe-train's ONNX Runtime threads per op
 *   --a.b.c=VALUE          any other lethe-train config override, as given (--loss.rmu.alpha=900,
 *                          --loss.rmu.beta=3, --optim.lr=1e-2, --epochs=20, ...)
 *   --eval.<flag>=VALUE, --out_root=DIR, --eval_root=DIR   see lib/stage-trial.mjs
 * The trained model is <out_root>/<run id>/final.
 */
import { cli, stageThenEval } from "./lib/stage-trial.mjs";

let config = null;
let preset = "adaptive-rmu-1b";
let base = null;
let layer = null;
let threads = null;
let select = false;
const rest = [];
for (const arg of process.argv.slice(2)) {
  const [, name, value] = /^--([^=]+)=(.*)$/s.exec(arg) ?? [];
  if (name === "config") config = value;
  else if (name === "preset") preset = value;
  else if (name === "base") base = value;
  else if (name === "layer") layer = Number(value);
  else if (name === "threads") threads = value;
  else {
    if (name === "params.select") select = true;
    rest.push(arg);
  }
}
if (!config || !base) {
  process.stderr.write("rmu-and-score.mjs: --config=FILE and --base=CKPT are required\n");
  process.exit(2);
}
if (layer !== null) {
  if (!Number.isInteger(layer) || layer < 0) {
    process.stderr.write(`rmu-and-score.mjs: --layer must be a layer index, got ${layer}\n`);
    process.exit(2);
  }
  rest.push(`--loss.rmu.layer=${layer}`);
  if (!select) {
    const layers = [layer - 2, layer - 1, layer].filter((l) => l >= 0).join("|");
    rest.push(`--params.select=model\\.layers\\.(${layers})\\.mlp\\..*`);
  }
}
process.argv.splice(2, process.argv.length - 2, ...rest);

await stageThenEval({
  name: "rmu",
  parents: [base],
  evaluated: (checkpoint) => `${checkpoint}/final`,
  makeStageArgv: (checkpoint, overrides) => [
    ...cli("trainer", "lethe-train"),
    config,
    "--preset",
    preset,
    `--model=${base}`,
    `--out=${checkpoint}`,
    "--quiet",
    ...(threads ? ["--threads", threads] : []),
    ...overrides,
  ],
});
