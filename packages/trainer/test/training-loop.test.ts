/**
 * The engine trains: a tiny model memorises a fixed text with plain SGD, twice with the same seed to the same
 * bits; and the optimiser matches torch.optim.AdamW's update written out in float64.
 */
import { Rng } from "@lethe/core";
import { leftPad, type Model, SessionCache } from "@lethe/model";
import { describe, expect, it } from "vitest";
import { modelFrom, testSessions, toTensors } from "../../model/test/helpers.js";
import { expectedTensors, randomWeights, tinyConfig } from "../../model/test/reference/tiny-models.js";
import { AdamW, clipScale, globalGradNorm } from "../src/optim/adamw.js";
import { ParameterSet, type TrainableSpec } from "../src/params.js";
import { TrainingStep } from "../src/step.js";

const SHAPE = { vocab: 16, hidden: 16, layers: 2, heads: 2, kvHeads: 1, intermediate: 32, tied: false };
const TEXT = [[3, 7, 2, 9, 4, 4, 11, 5, 2, 14, 6, 8, 3, 10, 12, 7, 5, 13, 9, 2]];

async function tinyModel(): Promise<Model> {
  const config = tinyConfig("llama", SHAPE);
  const weights = randomWeights("llama", SHAPE, 3, 0.2);
  return modelFrom(config, toTensors(weights, expectedTensors("llama", SHAPE)), {
    sessionCache: testSessions(),
  });
}

/** Mean NLL of every next token of TEXT, one SGD step per call; returns the loss before the step. */
async function sgdSteps(spec: TrainableSpec, steps: number, lr: number) {
  const model = await tinyModel();
  const params = new ParameterSet(model, spec);
  const engine = new TrainingStep(model, params, model.sessions);
  const batch = leftPad(TEXT, model.padId, model.config.vocabSize);
  const labels = new BigInt64Array(batch.seq);
  const cot = new Float32Array(batch.seq);
  for (let k = 0; k + 1 < batch.seq; k++) {
    labels[k] = BigInt(TEXT[0]![k + 1]!);
    cot[k] = -1 / (batch.seq - 1);
  }
  const losses: number[] = [];
  const compiledAfterFirst: number[] = [];
  for (let s = 0; s < steps; s++) {
    if (s === 1) compiledAfterFirst.push(model.sessions.stats.compiled);
    params.zeroGrads();
    const pass = await engine.forward(batch, { kind: "logits", labels });
    // L = Σ cot·log p with cot = −1/n on every scored position
    losses.push(pass.tokenLogprobs!.reduce((sum, lp, k) => sum + lp * cot[k]!, 0));
    await engine.backward(pass, { tokenLogprobs: cot });
    for (const p of params.params) for (let i = 0; i < p.value.length; i++) p.value[i]! -= lr * p.grad[i]!;
  }
  const compiled = { afterFirstStep: compiledAfterFirst[0]!, atEnd: model.sessions.stats.compiled };
  await model.sessions.release();
  return { losses, params, compiled };
}

describe("training with the engine", () => {
  it("memorises a fixed text with plain SGD (full fine-tuning), bit-identically twice", async () => {
    const first = await sgdSteps({ select: /.*/ }, 300, 0.5);
    const initial = first.losses[0]!;
    const final = first.losses.at(-1)!;
    expect(initial).toBeGreaterThan(2); // ≈ ln 16 for a random model
    expect(final).toBeLessThan(0.05);
    // embed, layer, loss head, its gradient, one layer gradient for both layers, the embedding's gradient;
    // compiled in the first step and reused by the 299 after it
    expect(first.compiled).toEqual({ afterFirstStep: 6, atEnd: 6 });
    const second = await sgdSteps({ select: /.*/ }, 300, 0.5);
    expect(second.losses).toEqual(first.losses);
    first.params.params.forEach((p, k) => {
      const other = second.params.params[k]!;
      expect(other.name).toBe(p.name);
      expect(Buffer.from(other.value.buffer).equals(Buffer.from(p.value.buffer)), p.name).toBe(true);
    });
  });

  it("lowers the loss through LoRA factors alone", async () => {
    const spec: TrainableSpec = {
      lora: {
        r: 4,
        alpha: 8,
        seed: 1,
        targetModules: ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"],
      },
    };
    const { losses } = await sgdSteps(spec, 60, 0.5);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
  });
});

describe("AdamW", () => {
  it("matches torch.optim.AdamW's update with global-norm clipping, written out in float64", () => {
    const value = Float32Array.from([0.5, -1.25, 2, 0.125, -0.75]);
    const grad = new Float32Array(5);
    const second = { value: Float32Array.from([1, -2]), grad: new Float32Array(2) };
    const opts = { betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 };
    const adam = new AdamW([{ value, grad }, second], opts);
    const ref = {
      theta: [...value, ...second.value].map(Number),
      m: new Array(7).fill(0),
      v: new Array(7).fill(0),
    };
    const lr = 0.05;
    for (let t = 1; t <= 6; t++) {
      const g = [0.3 * t, -2, 1.5, 0.01, -0.6 + t * 0.1, 4, -3].map((x) => x * (t % 2 ? 1 : -0.5));
      grad.set(g.slice(0, 5));
      second.grad.set(g.slice(5));
      const norm = globalGradNorm([{ value, grad }, second]);
      expect(norm).toBeCloseTo(Math.sqrt(g.reduce((s, x) => s + Math.fround(x) ** 2, 0)), 10);
      adam.step(lr, clipScale(norm, 1.0));
      // float64 reference: clip_grad_norm_, then AdamW (decay first, bias-corrected step)
      const coef = Math.min(1, 1 / (norm + 1e-6));
      for (let i = 0; i < 7; i++) {
        const gi = Math.fround(g[i]!) * coef;
        ref.theta[i] *= 1 - lr * opts.weightDecay;
        ref.m[i] = 0.9 * ref.m[i] + 0.1 * gi;
        ref.v[i] = 0.999 * ref.v[i] + 0.001 * gi * gi;
        const denom = Math.sqrt(ref.v[i]) / Math.sqrt(1 - 0.999 ** t) + opts.eps;
        ref.theta[i] -= (lr / (1 - 0.9 ** t)) * (ref.m[i] / denom);
      }
      const ours = [...value, ...second.value];
      for (const [i, x] of ours.entries())
        expect(Math.abs(x - ref.theta[i]!), `step ${t}, θ${i}`).toBeLessThan(2e-6);
    }
    expect(adam.state.step).toBe(6);
  });

  it("takes the global norm as a float64 sum of squares across chunks, lanes and tails", () => {
    const rng = new Rng(11);
    const sizes = [40_003, 3, 16_384, 1];
    const params = sizes.map((n) => {
      const grad = Float32Array.from({ length: n }, () => (rng.float() - 0.5) * 10 ** (rng.below(7) - 3));
      return { value: new Float32Array(n), grad };
    });
    let sum = 0;
    for (const p of params) for (const g of p.grad) sum += g * g;
    expect(Math.abs(globalGradNorm(params) / Math.sqrt(sum) - 1)).toBeLessThan(1e-13);
    expect(globalGradNorm([{ value: new Float32Array(2), grad: Float32Array.from([3, 4]) }])).toBe(5);
  });

  it("does not clip when the norm is under the limit, and clipScale(null) is 1", () => {
    expect(clipScale(0.5, 1)).toBe(1);
    expect(clipScale(10, 1)).toBeCloseTo(0.1, 6);
    expect(clipScale(10, null)).toBe(1);
  });
});

describe("the loss head in row chunks", () => {
  it("gives the same statistics and gradients one row at a time as all rows at once (tied head, KL)", async () => {
    const shape = { ...SHAPE, tied: true };
    const config = tinyConfig("llama", shape);
    const weights = randomWeights("llama", shape, 4, 0.2);
    const model = await modelFrom(config, toTensors(weights, expectedTensors("llama", shape)), {
      sessionCache: testSessions(),
    });
    const rows = [TEXT[0]!.slice(0, 12), TEXT[0]!.slice(5), TEXT[0]!.slice(3, 9)];
    const batch = leftPad(rows, model.padId, model.config.vocabSize);
    const labels = BigInt64Array.from({ length: batch.batch * batch.seq }, (_, k) => BigInt(k % 16));
    const run = async (headChunkValues: number | undefined) => {
      const params = new ParameterSet(model, { select: /.*/ });
      const engine = new TrainingStep(model, params, model.sessions, { headChunkValues });
      const ref = await engine.forward(
        batch,
        { kind: "logits", labels, logprobs: true },
        { reference: true },
      );
      const pass = await engine.forward(batch, { kind: "logits", labels, refLogprobs: ref.logprobs! });
      const n = batch.batch * batch.seq;
      const cot = Float32Array.from({ length: n }, (_, k) => ((k % 5) - 2) / n);
      await engine.backward(pass, { tokenLogprobs: cot, kl: new Float32Array(n).fill(0.5 / n) });
      return { ref, pass, params };
    };
    const whole = await run(undefined);
    const byRow = await run(batch.seq * model.config.vocabSize); // one row per run
    expect([...byRow.ref.logprobs!]).toEqual([...whole.ref.logprobs!]);
    expect([...byRow.pass.tokenLogprobs!]).toEqual([...whole.pass.tokenLogprobs!]);
    expect([...byRow.pass.kl!]).toEqual([...whole.pass.kl!]);
    whole.params.params.forEach((p, k) => {
      const other = byRow.params.params[k]!.grad;
      const scale = Math.max(...p.grad.map(Math.abs));
      const diff = Math.max(...p.grad.map((g, i) => Math.abs(g - other[i]!)));
      expect(diff / scale, p.name).toBeLessThan(1e-5);
    });
    await model.sessions.release();
  });
});

describe("determinism across thread counts", () => {
  it("gives bit-identical weights after five AdamW steps with 1 and with 2 ORT threads", async () => {
    const shape = { vocab: 64, hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, tied: false };
    const run = async (threads: number) => {
      const sessions = new SessionCache({ intraOpNumThreads: threads, interOpNumThreads: 1 });
      const weights = randomWeights("llama", shape, 3, 0.2);
      const model = await modelFrom(
        tinyConfig("llama", shape),
        toTensors(weights, expectedTensors("llama", shape)),
        {
          sessionCache: sessions,
        },
      );
      const params = new ParameterSet(model, { select: /.*/ });
      const engine = new TrainingStep(model, params, sessions);
      const adam = new AdamW(params.params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
      const rows = Array.from({ length: 8 }, (_, b) =>
        Array.from({ length: 60 }, (_, t) => (b * 13 + t * 7) % 64),
      );
      const batch = leftPad(rows, 0, 64);
      const labels = BigInt64Array.from({ length: 8 * 60 }, (_, k) => BigInt((k * 3) % 64));
      const cot = new Float32Array(8 * 60).fill(-1 / 480);
      for (let s = 0; s < 5; s++) {
        params.zeroGrads();
        const pass = await engine.forward(batch, { kind: "logits", labels });
        await engine.backward(pass, { tokenLogprobs: cot });
        adam.step(1e-3);
      }
      await sessions.release();
      return params.params.map((p) => Buffer.from(p.value.buffer));
    };
    const one = await run(1);
    const two = await run(2);
    expect(one.filter((b, k) => !b.equals(two[k]!)).length).toBe(0);
  }, 60_000);
});
