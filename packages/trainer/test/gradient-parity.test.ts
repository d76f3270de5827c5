/**
 * Whole-model gradients of a masked NLL against central finite differences of the float64 reference forward
 * (model/test/reference/forward64.ts, plain loops after transformers' modeling code, sharing nothing with the
 * graphs). Our gradients come from the float32 ONNX graphs, so the comparison is relative to the largest
 * finite-difference entry of each tensor kind, at 2e-4: float32 rounding through two layers, not the 1e-6 of the
 * per-rule float64 checks.
 */

import { Rng } from "@lethe/core";
import { leftPad, type Model } from "@lethe/model";
import { describe, expect, it } from "vitest";
import { modelFrom, testSessions, toTensors } from "../../model/test/helpers.js";
import {
  type LoraModule,
  referenceForward,
  referenceLogProbs,
  type Weights,
} from "../../model/test/reference/forward64.js";
import {
  type Arch,
  expectedTensors,
  gaussians,
  randomWeights,
  type TinyShape,
  tinyConfig,
} from "../../model/test/reference/tiny-models.js";
import { ParameterSet, type TrainableSpec } from "../src/params.js";
import { TrainingStep } from "../src/step.js";

const ROWS = [
  [3, 5, 2, 7, 1, 4, 9],
  [6, 2, 9, 3, 8],
  [4, 4, 10, 2, 5, 6],
];
/** The first two tokens of each row are a prompt: not scored. */
const PROMPT = 2;
const COORDS = 20;

interface Case {
  name: string;
  arch: Arch;
  shape: Partial<TinyShape>;
  extra?: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    name: "Llama, GQA, untied head",
    arch: "llama",
    shape: { heads: 4, kvHeads: 2, hidden: 16, tied: false },
  },
  { name: "Llama, tied head", arch: "llama", shape: { heads: 2, kvHeads: 1, tied: true } },
  { name: "OLMo with clip_qkv", arch: "olmo", shape: { heads: 2, kvHeads: 2 }, extra: { clip_qkv: 0.6 } },
  { name: "Qwen2 with q/k/v biases", arch: "qwen2", shape: { heads: 2, kvHeads: 1 } },
];

function batchOf(model: Model) {
  const batch = leftPad(ROWS, model.padId, model.config.vocabSize);
  const { seq } = batch;
  const labels = new BigInt64Array(batch.batch * seq);
  const cot = new Float32Array(batch.batch * seq);
  let count = 0;
  ROWS.forEach((row, b) => {
    const pad = seq - row.length;
    for (let t = PROMPT; t < row.length; t++) {
      const k = b * seq + pad + t - 1; // position k predicts token t
      labels[k] = BigInt(row[t]!);
      cot[k] = 1;
      count++;
    }
  });
  // L = −Σ log p / count, so ∂L/∂log p = −1/count at every scored position.
  for (let k = 0; k < cot.length; k++) cot[k] = -cot[k]! / count;
  return { batch, labels, cot };
}

function referenceLoss(config: Record<string, unknown>, weights: Weights, lora?: LoraOpts): number {
  const lp = referenceLogProbs(config, weights, ROWS, lora ? { lora } : {});
  let sum = 0;
  let count = 0;
  lp.forEach((row) => {
    for (let t = PROMPT; t < row.length + 1; t++) {
      sum -= row[t - 1]!;
      count++;
    }
  });
  return sum / count;
}

type LoraOpts = { scaling: number; modules: Map<string, LoraModule> };

/** Tensor kind: the name without its layer index. */
const kindOf = (name: string) => name.replace(/layers\.\d+\./, "layers.*.");

async function ourGradients(c: Case, spec: TrainableSpec, bSeed?: number) {
  const config = tinyConfig(c.arch, c.shape, c.extra);
  const shapes = expectedTensors(c.arch, { ...defaultShape(), ...c.shape });
  const weights = randomWeights(c.arch, c.shape, 7);
  const model = await modelFrom(config, toTensors(weights, shapes), { sessionCache: testSessions() });
  const params = new ParameterSet(model, spec);
  if (bSeed !== undefined) {
    // PEFT starts B at 0, where ∂L/∂A vanishes; random B makes both factors' gradients informative.
    randomizeLoraB(params, bSeed);
  }
  const step = new TrainingStep(model, params, model.sessions);
  const { batch, labels, cot } = batchOf(model);
  const pass = await step.forward(batch, { kind: "logits", labels });
  await step.backward(pass, { tokenLogprobs: cot });
  await model.sessions.release();
  return { config, weights, params };
}

function defaultShape(): TinyShape {
  return { vocab: 11, hidden: 8, layers: 2, heads: 2, kvHeads: 1, intermediate: 12, tied: false };
}

/** Largest |ours − fd| / max|fd| over COORDS random coordinates of each tensor kind. */
function compare(
  params: ParameterSet,
  objective: (name: string, index: number, delta: number) => number,
  seed: number,
): Map<string, number> {
  const byKind = new Map<string, { name: string; grad: Float32Array; size: number }[]>();
  for (const p of params.params) {
    const k = kindOf(p.name);
    byKind.set(k, [...(byKind.get(k) ?? []), { name: p.name, grad: p.grad, size: p.value.length }]);
  }
  const rng = new Rng(seed);
  const pickIndex = (n: number) => rng.below(n);
  const h = 1e-5;
  const errors = new Map<string, number>();
  for (const [kind, tensors] of byKind) {
    const ours: number[] = [];
    const fd: number[] = [];
    for (let k = 0; k < COORDS; k++) {
      const t = tensors[pickIndex(tensors.length)]!;
      const i = pickIndex(t.size);
      ours.push(t.grad[i]!);
      fd.push((objective(t.name, i, h) - objective(t.name, i, -h)) / (2 * h));
    }
    const scale = Math.max(...fd.map(Math.abs), 1e-6);
    errors.set(kind, Math.max(...ours.map((g, k) => Math.abs(g - fd[k]!))) / scale);
  }
  return errors;
}

function perturbed(weights: Weights, name: string, index: number, delta: number): Weights {
  const copy = new Map(weights);
  const v = Float64Array.from(weights.get(name)!);
  v[index]! += delta;
  copy.set(name, v);
  return copy;
}

describe("whole-model gradients against finite differences of the float64 forward", () => {
  for (const c of CASES) {
    it(`${c.name}: every weight (full fine-tuning)`, async () => {
      const { config, weights, params } = await ourGradients(c, { select: /.*/ });
      const errors = compare(
        params,
        (name, i, d) => referenceLoss(config, perturbed(weights, name, i, d)),
        11,
      );
      expect(errors.size).toBeGreaterThanOrEqual(c.arch === "olmo" ? 8 : 10);
      for (const [kind, err] of errors) expect(err, kind).toBeLessThan(2e-4);
    });

    it(`${c.name}: LoRA factors on all seven linear modules`, async () => {
      const spec: TrainableSpec = {
        lora: {
          r: 2,
          alpha: 4,
          seed: 3,
          targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        },
      };
      const { config, weights, params } = await ourGradients(c, spec, 5);
      const modules = loraModules(params);
      const objective = (name: string, i: number, d: number) =>
        referenceLoss(config, weights, {
          scaling: params.loraScaling,
          modules: perturbLora(modules, name, i, d),
        });
      const errors = compare(params, objective, 12);
      expect(errors.size).toBe(14);
      for (const [kind, err] of errors) expect(err, kind).toBeLessThan(2e-4);
    });

    it(`${c.name}: one selected down_proj (layers below run forward-only)`, async () => {
      const { config, weights, params } = await ourGradients(c, {
        select: /model\.layers\.1\.mlp\.down_proj\.weight/,
      });
      expect(params.params.map((p) => p.name)).toEqual(["model.layers.1.mlp.down_proj.weight"]);
      expect(params.lowestTrainableLayer).toBe(1);
      const errors = compare(
        params,
        (name, i, d) => referenceLoss(config, perturbed(weights, name, i, d)),
        13,
      );
      for (const [kind, err] of errors) expect(err, kind).toBeLessThan(2e-4);
    });
  }
});

describe("the other loss statistics: KL to the reference and a hidden state", () => {
  const c = CASES[0]!;
  const lora: TrainableSpec = {
    lora: { r: 2, alpha: 4, seed: 3, targetModules: ["q_proj", "v_proj", "down_proj"] },
  };

  it("KL(p_ref ‖ p_θ) over all positions / (B·T), the reference being the same session with LoRA scaling 0", async () => {
    const config = tinyConfig(c.arch, c.shape, c.extra);
    const shapes = expectedTensors(c.arch, { ...defaultShape(), ...c.shape });
    const weights = randomWeights(c.arch, c.shape, 7);
    const model = await modelFrom(config, toTensors(weights, shapes), { sessionCache: testSessions() });
    const params = new ParameterSet(model, lora);
    randomizeLoraB(params, 5);
    const step = new TrainingStep(model, params, model.sessions);
    const { batch, labels } = batchOf(model);
    const ref = await step.forward(batch, { kind: "logits", labels, logprobs: true }, { reference: true });
    const pass = await step.forward(batch, { kind: "logits", labels, refLogprobs: ref.logprobs! });
    const positions = batch.batch * batch.seq;
    await step.backward(pass, {
      tokenLogprobs: new Float32Array(positions),
      kl: new Float32Array(positions).fill(1 / positions),
    });
    await model.sessions.release();

    const V = model.config.vocabSize;
    const logSoftmax = (row: Float64Array, at: number) => {
      const x = row.subarray(at * V, (at + 1) * V);
      const max = Math.max(...x);
      const lse = max + Math.log(x.reduce((s, v) => s + Math.exp(v - max), 0));
      return Array.from(x, (v) => v - lse);
    };
    const modules = loraModules(params);
    const refLogits = referenceForward(config, weights, ROWS).logits;
    const kl = (mods: Map<string, LoraModule>) => {
      const logits = referenceForward(config, weights, ROWS, {
        lora: { scaling: params.loraScaling, modules: mods },
      }).logits;
      let sum = 0;
      logits.forEach((row, b) => {
        for (let t = 0; t < batch.seq; t++) {
          const p = logSoftmax(refLogits[b]!, t);
          const q = logSoftmax(row, t);
          sum += p.reduce((s, lp, v) => s + Math.exp(lp) * (lp - q[v]!), 0);
        }
      });
      return sum / positions;
    };
    expect(kl(modules)).toBeGreaterThan(1e-4);
    // the policy's own KL output at each position agrees with the float64 value
    let ours = 0;
    for (const v of pass.kl!) ours += v / positions;
    expect(Math.abs(ours - kl(modules))).toBeLessThan(1e-5);
    const errors = compare(params, (name, i, d) => kl(perturbLora(modules, name, i, d)), 21);
    for (const [kind, err] of errors) expect(err, kind).toBeLessThan(2e-4);
  });

  it("a hidden-state target at layer 0: the forward stops there, the gradient reaches only layer 0", async () => {
    const config = tinyConfig(c.arch, c.shape, c.extra);
    const shapes = expectedTensors(c.arch, { ...defaultShape(), ...c.shape });
    const weights = randomWeights(c.arch, c.shape, 7);
    const model = await modelFrom(config, toTensors(weights, shapes), { sessionCache: testSessions() });
    const params = new ParameterSet(model, { select: /model\.layers\.\d+\.mlp\.(up|down)_proj\.weight/ });
    const step = new TrainingStep(model, params, model.sessions);
    const { batch } = batchOf(model);
    const pass = await step.forward(batch, { kind: "hidden", layer: 0 });
    const D = model.config.hiddenSize;
    const g = gaussians(9);
    const cot = Float32Array.from({ length: batch.batch * batch.seq * D }, () => g());
    await step.backward(pass, { hidden: cot });
    await model.sessions.release();
    const objective = (w: Weights) => {
      const hidden = referenceForward(config, w, ROWS).hidden.layers[0]!;
      let sum = 0;
      hidden.forEach((row, b) => {
        for (let k = 0; k < row.length; k++) sum += row[k]! * cot[b * batch.seq * D + k]!;
      });
      return sum;
    };
    const layer1 = params.params.filter((p) => p.name.startsWith("model.layers.1."));
    expect(layer1.length).toBe(2);
    for (const p of layer1) expect(p.grad.every((v) => v === 0)).toBe(true);
    const errors = compare(params, (name, i, d) => objective(perturbed(weights, name, i, d)), 22);
    for (const [kind, err] of errors) expect(err, kind).toBeLessThan(2e-4);
  });
});

function loraModules(params: ParameterSet): Map<string, LoraModule> {
  const modules = new Map<string, LoraModule>();
  for (const p of params.params) {
    const module = moduleOf(p.name);
    const m = modules.get(module) ?? { A: new Float64Array(0), B: new Float64Array(0) };
    if (p.name.includes("lora_A")) m.A = Float64Array.from(p.value);
    else m.B = Float64Array.from(p.value);
    modules.set(module, m);
  }
  return modules;
}

const moduleOf = (name: string) =>
  name.replace(/^base_model\.model\./, "").replace(/\.lora_[AB]\.weight$/, "");

function perturbLora(
  modules: Map<string, LoraModule>,
  name: string,
  i: number,
  d: number,
): Map<string, LoraModule> {
  const module = moduleOf(name);
  const m = modules.get(module)!;
  const which = name.includes("lora_A") ? "A" : "B";
  const v = Float64Array.from(m[which]);
  v[i]! += d;
  const mods = new Map(modules);
  mods.set(module, { ...m, [which]: v });
  return mods;
}

function randomizeLoraB(params: ParameterSet, seed: number): void {
  const g = gaussians(seed);
  for (const p of params.params) {
    if (!p.name.includes("lora_B")) continue;
    for (let i = 0; i < p.value.length; i++) p.value[i] = 0.3 * g();
  }
}
