#!/usr/bin/env node
/**
 * A stand-in trial for trying sweeps without a model: "trains" for --steps steps on a noisy quadratic bowl
 * with its minimum at x = 0.3, y = -0.2, logging `loss` at every step through the tracker (so hyperband can
 * judge it while it runs) and the final `loss` and `score` (= −loss) as summary values.
 *
 *   node examples/sweeps/quadratic.mjs --x=0.1 --y=0.4 [--steps=10] [--noise=0.01] [--sleep-ms=0] [--seed=1]
 *
 * Under `lethe-track sweep` the run it starts is the trial's run (WANDB_RUN_ID etc. are set by the
 * controller). It rejects x or y outside [-1, 1] with exit code 1, which makes a failing trial easy to see.
 */
import { parseArgs } from "node:util";
import { startRun } from "@lethe/tracker";

const { values } = parseArgs({
  options: {
    x: { type: "string", default: "0" },
    y: { type: "string", default: "0" },
    steps: { type: "string", default: "10" },
    noise: { type: "string", default: "0.01" },
    "sleep-ms": { type: "string", default: "0" },
    seed: { type: "string", default: "1" },
  },
});
const x = Number(values.x);
const y = Number(values.y);
const steps = Number(values.steps);
const noise = Number(values.noise);
const sleepMs = Number(values["sleep-ms"]);
for (const [name, v] of [
  ["x", x],
  ["y", y],
]) {
  if (!(v >= -1 && v <= 1)) {
    process.stderr.write(`quadratic: --${name} must be in [-1, 1], got ${v}\n`);
    process.exit(1);
  }
}

// A small seeded generator so the same flags give the same curve.
let state = (Number(values.seed) * 2654435761) >>> 0 || 1;
const uniform = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 4294967296;
};
const gaussian = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());

// No name: the run is named as the sweep names the trial, not after this program.
const run = await startRun({ project: "lethe-examples", config: { x, y, steps, noise } });
const floor = (x - 0.3) ** 2 + (y + 0.2) ** 2;
let loss = Number.NaN;
for (let step = 0; step < steps; step++) {
  // Converges from floor + 1 toward floor, with noise that shrinks as it goes.
  loss = floor + Math.exp(-step / 2) + (noise * gaussian()) / (step + 1);
  run.log({ loss }, { step });
  if (sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, sleepMs));
}
run.summary({ loss, score: -loss });
await run.finish();
