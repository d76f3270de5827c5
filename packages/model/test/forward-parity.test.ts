/**
 * Parity with the float64 reference forward (test/reference/forward64.ts, plain loops written from the HF
 * modeling code): logits and every hidden state agree to 1e-4 relative to each tensor's scale, for every
 * architecture, with left padding, GQA, tied embeddings, rope scaling, clip_qkv, q/k/v bias and LoRA.
 */
import { afterAll, describe, expect, it } from "vitest";
import { forward } from "../src/runtime/forward.js";
import { modelFrom, relativeError, testSessions, toTensors } from "./helpers.js";
import { loraFixture } from "./lora-fixture.js";
import { type ReferenceOptions, referenceForward } from "./reference/forward64.js";
import {
  type Arch,
  expectedTensors,
  gaussians,
  randomWeights,
  type TinyShape,
  tinyConfig,
} from "./reference/tiny-models.js";

const sessions = testSessions();
afterAll(() => sessions.release());

const TOL = 1e-4;
const ROWS = [
  [5, 17, 42, 99, 3, 250, 7, 64, 12, 8],
  [30, 2, 77, 150],
  [9, 9, 201, 33, 120, 45, 6],
];

interface Case {
  name: string;
  arch: Arch;
  shape: Partial<TinyShape>;
  extra?: Record<string, unknown>;
  lora?: boolean;
}

const BASE: Partial<TinyShape> = {
  vocab: 260,
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 4,
  intermediate: 48,
};
const GQA: Partial<TinyShape> = { ...BASE, kvHeads: 2 };

const CASES: Case[] = [
  { name: "llama, GQA, padding", arch: "llama", shape: GQA },
  { name: "llama, tied embeddings", arch: "llama", shape: { ...BASE, tied: true } },
  {
    name: "llama, llama3 rope scaling",
    arch: "llama",
    shape: GQA,
    extra: {
      rope_theta: 500000,
      rope_scaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8,
      },
    },
  },
  {
    name: "llama, linear rope scaling",
    arch: "llama",
    shape: BASE,
    extra: { rope_scaling: { type: "linear", factor: 4 } },
  },
  { name: "llama, LoRA", arch: "llama", shape: GQA, lora: true },
  { name: "olmo", arch: "olmo", shape: BASE },
  { name: "olmo, clip_qkv, GQA", arch: "olmo", shape: GQA, extra: { clip_qkv: 0.5 } },
  { name: "olmo, LoRA", arch: "olmo", shape: BASE, lora: true },
  { name: "qwen2, GQA, tied", arch: "qwen2", shape: { ...GQA, tied: true } },
  { name: "qwen2, LoRA", arch: "qwen2", shape: GQA, lora: true },
];

describe("forward parity with the float64 reference", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const config = tinyConfig(c.arch, c.shape, c.extra ?? {});
      const shape = { ...BASE, tied: false, ...c.shape } as TinyShape;
      const weights = randomWeights(c.arch, shape, 7, 0.2);
      const tensors = toTensors(weights, expectedTensors(c.arch, shape));
      const lora = c.lora
        ? await loraFixture(
            config,
            ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"],
            4,
            gaussians(3),
          )
        : null;
      const model = await modelFrom(config, tensors, {
        sessionCache: sessions,
        adapter: lora?.adapter ?? null,
      });
      const refOpts: ReferenceOptions = lora ? { lora: lora.reference } : {};
      const ref = referenceForward(config, weights, ROWS, refOpts);
      const out = await forward(model, ROWS, { hidden: true });

      const { batch, seq } = out;
      expect([batch, seq]).toEqual([3, 10]);
      const V = shape.vocab;
      const D = shape.hidden;
      for (let b = 0; b < batch; b++) {
        // Every position, pads included: both sides give pads position 1 and let them attend only to themselves.
        expect(
          relativeError(out.logits!, b * seq * V, ref.logits[b]!, 0, seq * V),
          `logits row ${b}`,
        ).toBeLessThan(TOL);
        expect(
          relativeError(out.hidden!.get("embed")!, b * seq * D, ref.hidden.embed[b]!, 0, seq * D),
        ).toBeLessThan(TOL);
        for (let l = 0; l < shape.layers; l++) {
          const err = relativeError(
            out.hidden!.get(`layer.${l}`)!,
            b * seq * D,
            ref.hidden.layers[l]![b]!,
            0,
            seq * D,
          );
          expect(err, `layer ${l} row ${b}`).toBeLessThan(TOL);
        }
      }
    });
  }
});
