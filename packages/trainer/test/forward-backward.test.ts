/**
 * `forwardBackward` (one run of the loss head per chunk, statistics and gradients together) against `forward`
 * then `backward` (the head run twice): the same statistics and the same gradients, for a masked NLL and for
 * NLL + KL to a reference, with the head split into several chunks and with LoRA, full and tied-head training.
 */
import { leftPad, type Model } from "@lethe/model";
import { describe, expect, it } from "vitest";
import { modelFrom, testSessions, toTensors } from "../../model/test/helpers.js";
import { expectedTensors, randomWeights, tinyConfig } from "../../model/test/reference/tiny-models.js";
import { ParameterSet, type TrainableSpec } from "../src/params.js";
import { type Cotangents, type LogitsTarget, TrainingStep } from "../src/step.js";

const SHAPE = { vocab: 24, hidden: 16, layers: 2, heads: 2, kvHeads: 1, intermediate: 32, tied: true };
const ROWS = [
  [3, 5, 2, 7, 1, 4, 9, 12],
  [6, 2, 9, 3, 8],
  [4, 4, 10, 2, 5, 6, 20],
];

async function tinyModel(): Promise<Model> {
  const config = tinyConfig("llama", SHAPE);
  const weights = randomWeights("llama", SHAPE, 5, 0.3);
  return modelFrom(config, toTensors(weights, expectedTensors("llama", SHAPE)), {
    sessionCache: testSessions(),
  });
}

const SPECS: [string, TrainableSpec][] = [
  ["full fine-tuning (tied head and embedding)", { select: /.*/ }],
  [
    "LoRA on four modules",
    { lora: { r: 4, alpha: 8, seed: 2, targetModules: ["q_proj", "v_proj", "up_proj", "down_proj"] } },
  ],
];

/** Gradients and statistics of one micro-batch, by the two-run path or the one-run path. */
async function run(spec: TrainableSpec, withKl: boolean, fused: boolean) {
  const model = await tinyModel();
  const params = new ParameterSet(model, spec);
  // LoRA's B starts at zero, which would leave every A gradient zero
  for (const p of params.params) {
    if (!p.name.includes("lora_B")) continue;
    for (let i = 0; i < p.value.length; i++) p.value[i] = 0.05 * Math.sin(i + 1);
  }
  // 2 rows of seq·V values per chunk: the 3-row batch takes two runs of the head
  const batch = leftPad(ROWS, model.padId, model.config.vocabSize);
  const engine = new TrainingStep(model, params, model.sessions, {
    headChunkValues: 2 * batch.seq * model.config.vocabSize,
  });
  const n = batch.batch * batch.seq;
  const labels = new BigInt64Array(n);
  const cot: Cotangents = { tokenLogprobs: new Float32Array(n) };
  for (let b = 0; b < batch.batch; b++) {
    for (let k = 0; k < batch.seq; k++) {
      const i = b * batch.seq + k;
      labels[i] = BigInt((b * 7 + k * 5) % model.config.vocabSize);
      if (batch.mask[i]) cot.tokenLogprobs![i] = -1 / n - 0.01 * b;
    }
  }
  const target: LogitsTarget = { kind: "logits", labels };
  if (withKl) {
    const ref = await engine.forward(batch, { kind: "logits", labels, logprobs: true }, { reference: true });
    // a reference distribution unlike the policy's own: the log-softmax of shuffled logits
    target.refLogprobs = shuffledRows(ref.logprobs!, model.config.vocabSize);
    cot.kl = new Float32Array(n).map((_, i) => 0.02 + 0.001 * (i % 5));
  }
  params.zeroGrads();
  const pass = fused
    ? await engine.forwardBackward(batch, target, cot, { passId: 0 })
    : await engine.forward(batch, target, { passId: 0 });
  if (!fused) await engine.backward(pass, cot);
  const grads = new Map(params.params.map((p) => [p.name, Float32Array.from(p.grad)]));
  await model.sessions.release();
  return { grads, tokenLogprobs: pass.tokenLogprobs!, kl: pass.kl };
}

function shuffledRows(logprobs: Float32Array, V: number): Float32Array {
  const out = new Float32Array(logprobs.length);
  for (let r = 0; r < logprobs.length / V; r++) {
    for (let v = 0; v < V; v++) out[r * V + v] = logprobs[r * V + ((v * 5 + r) % V)]!;
  }
  return out;
}

function maxRelativeError(ours: Float32Array, expected: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - expected[i]!));
  return worst / scale;
}

describe("forwardBackward: one run of the loss head", () => {
  for (const [name, spec] of SPECS) {
    for (const withKl of [false, true]) {
      it(`${name}, ${withKl ? "NLL + KL" : "masked NLL"}: the statistics and gradients of forward + backward`, async () => {
        const twice = await run(spec, withKl, false);
        const once = await run(spec, withKl, true);
        expect(maxRelativeError(once.tokenLogprobs, twice.tokenLogprobs)).toBeLessThan(1e-6);
        if (withKl) {
          expect(once.kl).not.toBeNull();
          expect(Math.max(...twice.kl!)).toBeGreaterThan(0.01);
          expect(maxRelativeError(once.kl!, twice.kl!)).toBeLessThan(1e-6);
        } else expect(once.kl).toBeNull();
        expect([...once.grads.keys()]).toEqual([...twice.grads.keys()]);
        for (const [param, g] of twice.grads) {
          expect(Math.max(...g.map(Math.abs)), param).toBeGreaterThan(0);
          expect(maxRelativeError(once.grads.get(param)!, g), param).toBeLessThan(1e-5);
        }
      });
    }
  }
});
