/**
 * LoRA dropout: masks of 0 and 1/(1−p) at rate p, reproducible per (pass, layer, module), drawn identically by
 * the forward pass and backward's recomputation, and only while training.
 */

import { Rng } from "@lethe/core";
import { leftPad } from "@lethe/model";
import { describe, expect, it } from "vitest";
import { modelFrom, testSessions, toTensors } from "../../model/test/helpers.js";
import {
  expectedTensors,
  gaussians,
  randomWeights,
  tinyConfig,
} from "../../model/test/reference/tiny-models.js";
import { dropoutMask } from "../src/dropout.js";
import { ParameterSet, type TrainableSpec } from "../src/params.js";
import { TrainingStep } from "../src/step.js";

const SHAPE = { vocab: 16, hidden: 16, layers: 2, heads: 2, kvHeads: 1, intermediate: 32, tied: false };
const ROWS = [
  [3, 7, 2, 9, 4, 4, 11, 5],
  [2, 14, 6, 8, 3],
];

describe("dropout masks", () => {
  it("drop a fraction p and scale the rest by 1/(1−p), the same for the same key only", () => {
    const n = 200_000;
    const mask = dropoutMask(0.1, 42, 3, 1, "mlp.up_proj", n);
    const zeros = mask.filter((v) => v === 0).length;
    expect(Math.abs(zeros / n - 0.1)).toBeLessThan(4 * Math.sqrt((0.1 * 0.9) / n));
    expect(new Set(mask.filter((v) => v !== 0))).toEqual(new Set([Math.fround(1 / 0.9)]));
    expect(dropoutMask(0.1, 42, 3, 1, "mlp.up_proj", n)).toEqual(mask);
    for (const other of [
      dropoutMask(0.1, 43, 3, 1, "mlp.up_proj", n),
      dropoutMask(0.1, 42, 4, 1, "mlp.up_proj", n),
      dropoutMask(0.1, 42, 3, 0, "mlp.up_proj", n),
      dropoutMask(0.1, 42, 3, 1, "mlp.down_proj", n),
    ]) {
      let same = 0;
      for (let k = 0; k < n; k++) if ((other[k] === 0) === (mask[k] === 0)) same++;
      expect(same / n).toBeLessThan(0.9); // independent masks agree on ≈ 0.82 of entries
    }
  });
});

describe("LoRA dropout in the engine", () => {
  const spec = (dropout: number): TrainableSpec => ({
    lora: { r: 2, alpha: 4, seed: 9, dropout, targetModules: ["q_proj", "v_proj", "up_proj", "down_proj"] },
  });

  async function setup(dropout: number) {
    const config = tinyConfig("llama", SHAPE);
    const weights = randomWeights("llama", SHAPE, 5, 0.3);
    const model = await modelFrom(config, toTensors(weights, expectedTensors("llama", SHAPE)), {
      sessionCache: testSessions(),
    });
    const params = new ParameterSet(model, spec(dropout));
    const g = gaussians(2);
    for (const p of params.params)
      if (p.name.includes("lora_B")) for (let i = 0; i < p.value.length; i++) p.value[i] = 0.3 * g();
    const engine = new TrainingStep(model, params, model.sessions);
    const batch = leftPad(ROWS, model.padId, SHAPE.vocab);
    const labels = BigInt64Array.from({ length: batch.batch * batch.seq }, (_, k) => BigInt((k * 5) % 16));
    const cot = Float32Array.from({ length: labels.length }, (_, k) => ((k % 3) - 1) / labels.length);
    const loss = async (passId: number) => {
      const pass = await engine.forward(batch, { kind: "logits", labels }, { passId });
      return { pass, value: pass.tokenLogprobs!.reduce((s, lp, k) => s + lp * cot[k]!, 0) };
    };
    return { model, params, engine, loss, cot };
  }

  it("backward differentiates the masked forward: its gradient matches finite differences at the same pass id", async () => {
    const { model, params, engine, loss, cot } = await setup(0.3);
    const { pass } = await loss(7);
    await engine.backward(pass, { tokenLogprobs: cot });
    const rng = new Rng(4);
    const ours: number[] = [];
    const fd: number[] = [];
    const h = 1e-2;
    for (let k = 0; k < 16; k++) {
      const p = rng.pick(params.params);
      const i = rng.below(p.value.length);
      const v = p.value[i]!;
      p.value[i] = v + h;
      const up = (await loss(7)).value;
      p.value[i] = v - h;
      const down = (await loss(7)).value;
      p.value[i] = v;
      ours.push(p.grad[i]!);
      fd.push((up - down) / (2 * h));
    }
    const scale = Math.max(...fd.map(Math.abs));
    expect(scale).toBeGreaterThan(1e-5);
    // float32 central differences with h = 1e-2: agreement to a few percent; a different mask in backward is off by O(1)
    expect(Math.max(...ours.map((g, k) => Math.abs(g - fd[k]!))) / scale).toBeLessThan(0.03);
    await model.sessions.release();
  });

  it("draws new masks for each pass, none for the reference, and p = 0 is the undropped model", async () => {
    const a = await setup(0.3);
    const first = (await a.loss(1)).value;
    expect((await a.loss(1)).value).toBe(first);
    expect((await a.loss(2)).value).not.toBe(first);
    const noDropout = await setup(0);
    const plain = (await noDropout.loss(1)).value;
    expect(plain).not.toBe(first);
    const { batch, labels } = {
      batch: leftPad(ROWS, a.model.padId, SHAPE.vocab),
      labels: new BigInt64Array(2 * 8),
    };
    const refA = await a.engine.forward(batch, { kind: "logits", labels }, { reference: true, passId: 1 });
    const refB = await a.engine.forward(batch, { kind: "logits", labels }, { reference: true, passId: 2 });
    expect([...refA.tokenLogprobs!]).toEqual([...refB.tokenLogprobs!]);
    await a.model.sessions.release();
    await noDropout.model.sessions.release();
  });
});
