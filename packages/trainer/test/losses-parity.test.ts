/**
 * Every configured loss, end to end through the engine (forward passes, host losses, backward), against the
 * same loss written out in float64 in this file on top of the float64 reference forward: the value, and the
 * gradient at random coordinates by central finite differences. lora, full and select parameter sets.
 */

import { Rng } from "@lethe/core";
import type { Model } from "@lethe/model";
import { describe, expect, it } from "vitest";
import { modelFrom, testSessions, toTensors } from "../../model/test/helpers.js";
import { type LoraModule, referenceForward, type Weights } from "../../model/test/reference/forward64.js";
import {
  expectedTensors,
  gaussians,
  randomWeights,
  tinyConfig,
} from "../../model/test/reference/tiny-models.js";
import { resolveTrainConfig } from "../src/config/resolve.js";
import { collate, type TrainBatch } from "../src/data/collate.js";
import { steeringDirection } from "../src/losses/representation.js";
import { Objective } from "../src/objective.js";
import { ParameterSet, type TrainableSpec } from "../src/params.js";
import { TrainingStep } from "../src/step.js";

const SHAPE = { vocab: 13, hidden: 8, layers: 2, heads: 2, kvHeads: 1, intermediate: 12, tied: false };
const CONFIG = tinyConfig("llama", SHAPE);
const V = SHAPE.vocab;
const D = SHAPE.hidden;
const IGNORE = -100;

/** Prompt tokens carry −100, targets their own id (HF labels; the loss shifts them). */
const FORGET = [
  { ids: [3, 5, 2, 7, 1, 4, 9], labels: [IGNORE, IGNORE, IGNORE, 7, 1, 4, 9] },
  { ids: [6, 2, 9, 3, 8], labels: [IGNORE, IGNORE, 9, 3, 8] },
];
const RETAIN = [
  { ids: [4, 4, 10, 2, 5, 6], labels: [IGNORE, IGNORE, 10, 2, 5, 6] },
  { ids: [11, 12, 3, 5], labels: [IGNORE, 12, 3, 5] },
  { ids: [7, 8, 9, 10, 11, 2, 3], labels: [IGNORE, IGNORE, IGNORE, IGNORE, 11, 2, 3] },
];

// ---------------------------------------------------------------------------------------------------------
// float64, written from the formulas of docs/unlearning.md

interface Rows {
  ids: number[][];
  labels: number[][];
}
const rowsOf = (r: typeof FORGET): Rows => ({ ids: r.map((x) => x.ids), labels: r.map((x) => x.labels) });

function logSoftmax(x: Float64Array): Float64Array {
  const max = Math.max(...x);
  const lse = max + Math.log(x.reduce((s, v) => s + Math.exp(v - max), 0));
  return x.map((v) => v - lse);
}

/** Per padded position of each row (left-padded to the longest, as collate does): log-softmax of its logits. */
function logprobs(w: Weights, rows: Rows, lora?: LoraOpts): Float64Array[][] {
  const { logits } = referenceForward(CONFIG, w, rows.ids, lora ? { lora } : {});
  return logits.map((row) => {
    const out: Float64Array[] = [];
    for (let t = 0; t < row.length / V; t++) out.push(logSoftmax(row.subarray(t * V, (t + 1) * V)));
    return out;
  });
}

/** Σ −log p(next labelled token) per row, and the counts. */
function rowNll(lp: Float64Array[][], rows: Rows): { sums: number[]; counts: number[] } {
  const T = lp[0]!.length;
  const sums: number[] = [];
  const counts: number[] = [];
  rows.labels.forEach((labels, b) => {
    const pad = T - labels.length;
    let s = 0;
    let c = 0;
    for (let t = 1; t < labels.length; t++) {
      if (labels[t] === IGNORE) continue;
      s -= lp[b]![pad + t - 1]![labels[t]!]!;
      c++;
    }
    sums.push(s);
    counts.push(c);
  });
  return { sums, counts };
}
const meanNll = (n: { sums: number[]; counts: number[] }) =>
  n.sums.reduce((a, b) => a + b, 0) / n.counts.reduce((a, b) => a + b, 0);
const logSigmoid = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));

function klAll(
  refLp: Float64Array[][],
  lp: Float64Array[][],
  rows: Rows,
  positions: "all" | "attended",
): number {
  let sum = 0;
  let n = 0;
  lp.forEach((row, b) => {
    const pad = row.length - rows.ids[b]!.length;
    row.forEach((q, t) => {
      if (positions === "attended" && t < pad) return;
      const p = refLp[b]![t]!;
      sum += p.reduce((s, lpv, v) => s + Math.exp(lpv) * (lpv - q[v]!), 0);
      n++;
    });
  });
  return sum / n;
}

type LoraOpts = { scaling: number; modules: Map<string, LoraModule> };

interface Policy {
  weights: Weights;
  lora?: LoraOpts;
}

type LossDoc = Record<string, unknown>;

/** The float64 loss of a config's `loss` section for a forget and a retain batch. */
function referenceLoss(loss: LossDoc, policy: Policy, base: Weights): number {
  const forgetRows = rowsOf(FORGET);
  const retainRows = rowsOf(RETAIN);
  const kind = loss["forget"] as string;
  const fw = (loss["forget_weight"] as number | undefined) ?? 1;
  let total = 0;
  if (kind === "rmu" || kind === "adaptive_rmu") return referenceRmu(loss, policy, base);
  const lp = logprobs(policy.weights, forgetRows, policy.lora);
  const nll = rowNll(lp, forgetRows);
  const npoCfg = (loss["npo"] ?? {}) as { beta?: number; reduction?: string };
  if (kind === "sft") total += fw * meanNll(nll);
  if (kind === "ga") total -= fw * meanNll(nll);
  if (kind === "npo") {
    const beta = npoCfg.beta ?? 0.1;
    const ref = rowNll(logprobs(base, forgetRows), forgetRows);
    if ((npoCfg.reduction ?? "batch_mean_token") === "batch_mean_token") {
      total += fw * (-2 / beta) * logSigmoid(beta * (meanNll(nll) - meanNll(ref)));
    } else {
      const per = nll.sums.map((s, i) => (-2 / beta) * logSigmoid(beta * (s - ref.sums[i]!)));
      total += (fw * per.reduce((a, b) => a + b, 0)) / per.length;
    }
  }
  if (kind === "simnpo") {
    const { beta = 4.5, delta = 0 } = (loss["simnpo"] ?? {}) as { beta?: number; delta?: number };
    const per = nll.sums.map((s, i) => (-2 / beta) * logSigmoid(beta * (s / nll.counts[i]! - delta)));
    total += (fw * per.reduce((a, b) => a + b, 0)) / per.length;
  }
  const klW = (loss["retain_kl"] as number | undefined) ?? 0;
  const nllW = (loss["retain_nll"] as number | undefined) ?? 0;
  if (klW > 0 || nllW > 0) {
    const rlp = logprobs(policy.weights, retainRows, policy.lora);
    if (klW > 0) {
      const positions = (loss["kl_positions"] as "all" | "attended" | undefined) ?? "all";
      total += klW * klAll(logprobs(base, retainRows), rlp, retainRows, positions);
    }
    if (nllW > 0) total += nllW * meanNll(rowNll(rlp, retainRows));
  }
  return total;
}

function hiddenAt(w: Weights, rows: Rows, layer: number, lora?: LoraOpts): Float64Array[] {
  return referenceForward(CONFIG, w, rows.ids, lora ? { lora } : {}).hidden.layers[layer]!;
}

/** Fixed during differentiation, as the code computes it without gradient. */
let adaptiveCoefficient = 0;

function referenceRmu(loss: LossDoc, policy: Policy, base: Weights): number {
  const rmu = loss["rmu"] as {
    layer: number;
    steering_coeff?: number;
    alpha: number;
    beta?: number;
    mse?: string;
  };
  const forgetRows = rowsOf(FORGET);
  const retainRows = rowsOf(RETAIN);
  const attendedOnly = rmu.mse === "attended";
  const u = steeringDirection(D, 42, "all");
  const c = loss["forget"] === "rmu" ? rmu.steering_coeff! : adaptiveCoefficient;
  const mse = (h: Float64Array[], rows: Rows, target: (b: number, k: number) => number) => {
    let s = 0;
    let n = 0;
    h.forEach((row, b) => {
      const T = row.length / D;
      const pad = T - rows.ids[b]!.length;
      for (let t = 0; t < T; t++) {
        if (attendedOnly && t < pad) continue;
        for (let d = 0; d < D; d++) {
          s += (row[t * D + d]! - target(b, t * D + d)) ** 2;
          n++;
        }
      }
    });
    return s / n;
  };
  const hf = hiddenAt(policy.weights, forgetRows, rmu.layer, policy.lora);
  let total = mse(hf, forgetRows, (_b, k) => c * u[k % D]!);
  const ref = hiddenAt(base, retainRows, rmu.layer);
  const hr = hiddenAt(policy.weights, retainRows, rmu.layer, policy.lora);
  total += rmu.alpha * mse(hr, retainRows, (b, k) => ref[b]![k]!);
  return total;
}

// ---------------------------------------------------------------------------------------------------------
// the engine's side

async function model(): Promise<{ model: Model; weights: Weights }> {
  const weights = randomWeights("llama", SHAPE, 21, 0.3);
  const m = await modelFrom(CONFIG, toTensors(weights, expectedTensors("llama", SHAPE)), {
    sessionCache: testSessions(),
  });
  return { model: m, weights };
}

const batchOf = (rows: typeof FORGET): TrainBatch => collate(rows, CONFIG.pad_token_id as number);

interface Case {
  name: string;
  loss: LossDoc;
  params: TrainableSpec;
}

const LORA: TrainableSpec = {
  lora: { r: 2, alpha: 4, seed: 5, targetModules: ["q_proj", "v_proj", "up_proj", "down_proj"] },
};
const CASES: Case[] = [
  {
    name: "ZJU over-forget: 0.4·NPO(batch mean token) + 0.4·KL(all positions) + 0.2·NLL, LoRA",
    loss: { forget: "npo", forget_weight: 0.4, retain_kl: 0.4, retain_nll: 0.2 },
    params: LORA,
  },
  {
    name: "NPO with per-sequence sums + KL over attended positions, full fine-tuning",
    loss: {
      forget: "npo",
      npo: { beta: 0.5, reduction: "sequence_sum" },
      retain_kl: 1,
      kl_positions: "attended",
    },
    params: { select: /.*/ },
  },
  {
    name: "SimNPO + NLL, selected down_proj",
    loss: { forget: "simnpo", simnpo: { beta: 2.5, delta: 0.3 }, retain_nll: 1 },
    params: { select: /model\.layers\.\d\.mlp\.down_proj\.weight/ },
  },
  { name: "gradient ascent, LoRA", loss: { forget: "ga" }, params: LORA },
  { name: "SFT (memorising), full", loss: { forget: "sft" }, params: { select: /.*/ } },
  {
    name: "RMU at layer 1, down_proj of layers 0 and 1, MSE over all positions",
    loss: { forget: "rmu", rmu: { layer: 1, steering_coeff: 6, alpha: 5, mse: "all" } },
    params: { select: /model\.layers\.(0|1)\.mlp\.down_proj\.weight/ },
  },
  {
    name: "Adaptive RMU at layer 0, attended positions, LoRA",
    loss: { forget: "adaptive_rmu", rmu: { layer: 0, beta: 3, alpha: 2, mse: "attended" } },
    params: LORA,
  },
];

function loraOf(params: ParameterSet): LoraOpts {
  const modules = new Map<string, LoraModule>();
  for (const p of params.params) {
    const module = p.name.replace(/^base_model\.model\./, "").replace(/\.lora_[AB]\.weight$/, "");
    const m = modules.get(module) ?? { A: new Float64Array(0), B: new Float64Array(0) };
    if (p.name.includes("lora_A")) m.A = Float64Array.from(p.value);
    else m.B = Float64Array.from(p.value);
    modules.set(module, m);
  }
  return { scaling: params.loraScaling, modules };
}

describe("losses through the engine against float64", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { model: m, weights } = await model();
      const params = new ParameterSet(m, c.params);
      const g = gaussians(3);
      for (const p of params.params) {
        if (!p.name.includes("lora_B")) continue;
        for (let i = 0; i < p.value.length; i++) p.value[i] = 0.3 * g();
      }
      const config = resolveTrainConfig({
        model: "m",
        out: "o",
        data: { forget: "f" },
        seed: 42,
        loss: c.loss,
      });
      const objective = new Objective(new TrainingStep(m, params, m.sessions), config.loss, config.seed);
      const terms = await objective.accumulate(
        { forget: batchOf(FORGET), retain: batchOf(RETAIN), topic: "all" },
        1,
      );
      await m.sessions.release();

      const isLora = !!c.params.lora;
      const policyFor = (w: Weights, lora?: LoraOpts): Policy => ({
        weights: w,
        ...(isLora ? { lora: lora! } : {}),
      });
      const lora = isLora ? loraOf(params) : undefined;
      if (c.loss["forget"] === "adaptive_rmu") adaptiveCoefficient = terms.rmu!.coeff;
      // The policy at the start: LoRA with random B differs from the base; selected weights equal it.
      const value = referenceLoss(c.loss, policyFor(weights, lora), weights);
      expect(Math.abs(terms.loss - value), `loss ${terms.loss} vs ${value}`).toBeLessThan(
        2e-5 * Math.max(1, Math.abs(value)),
      );

      const rng = new Rng(17);
      const pick = (n: number) => rng.below(n);
      const h = 1e-5;
      const ours: number[] = [];
      const fd: number[] = [];
      for (let k = 0; k < 24; k++) {
        const p = params.params[pick(params.params.length)]!;
        const i = pick(p.value.length);
        const at = (delta: number) => {
          if (isLora) {
            const mods = new Map(lora!.modules);
            const module = p.name.replace(/^base_model\.model\./, "").replace(/\.lora_[AB]\.weight$/, "");
            const which = p.name.includes("lora_A") ? "A" : "B";
            const mod = mods.get(module)!;
            const v = Float64Array.from(mod[which]);
            v[i]! += delta;
            mods.set(module, { ...mod, [which]: v });
            return referenceLoss(
              c.loss,
              policyFor(weights, { scaling: lora!.scaling, modules: mods }),
              weights,
            );
          }
          const w = new Map(weights);
          const v = Float64Array.from(weights.get(p.name)!);
          v[i]! += delta;
          w.set(p.name, v);
          return referenceLoss(c.loss, policyFor(w), weights);
        };
        ours.push(p.grad[i]!);
        fd.push((at(h) - at(-h)) / (2 * h));
      }
      const scale = Math.max(...fd.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-6);
      const err = Math.max(...ours.map((x, k) => Math.abs(x - fd[k]!))) / scale;
      expect(err, `ours ${ours.slice(0, 4)} fd ${fd.slice(0, 4)}`).toBeLessThan(5e-4);
    });
  }

  it("refuses retain_kl with an RMU loss, naming both fields", async () => {
    const { model: m } = await model();
    const params = new ParameterSet(m, { select: /model\.layers\.0\.mlp\.down_proj\.weight/ });
    const config = resolveTrainConfig({
      model: "m",
      out: "o",
      data: { forget: "f" },
      loss: { forget: "rmu", retain_kl: 1 },
    });
    expect(() => new Objective(new TrainingStep(m, params, m.sessions), config.loss, 1)).toThrow(
      /loss\.retain_kl and loss\.retain_nll apply to output-space losses; rmu's retain term is loss\.rmu\.alpha/,
    );
    await m.sessions.release();
  });
});
