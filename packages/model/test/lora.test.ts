/** PEFT LoRA: adapter_config.json rules, tensor checks, and run-time application versus folding. */
import { FormatError, tensorFromFloat32 } from "@lethe/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { foldLoraInto } from "../src/lora/fold.js";
import { loadAdapter, parseAdapterConfig } from "../src/lora/peft.js";
import { forward } from "../src/runtime/forward.js";
import { MemoryTensorSource } from "../src/runtime/weights.js";
import { modelFrom, relativeError, testSessions, toTensors } from "./helpers.js";
import { loraFixture, loraFixtureTensors } from "./lora-fixture.js";
import { referenceForward } from "./reference/forward64.js";
import {
  expectedTensors,
  gaussians,
  randomWeights,
  type TinyShape,
  tinyConfig,
} from "./reference/tiny-models.js";

const sessions = testSessions();
afterAll(() => sessions.release());

const SHAPE: TinyShape = {
  vocab: 120,
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 40,
  tied: false,
};
const CONFIG = tinyConfig("llama", SHAPE);
const ROWS = [
  [5, 17, 42, 99, 3],
  [30, 2, 77],
];

describe("adapter_config.json", () => {
  it("computes scaling as lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora", () => {
    expect(parseAdapterConfig({ r: 8, lora_alpha: 32 }).scaling).toBe(4);
    expect(parseAdapterConfig({ r: 16, lora_alpha: 32, use_rslora: true }).scaling).toBe(8);
    expect(parseAdapterConfig({}).scaling).toBe(1); // PEFT defaults r = 8, lora_alpha = 8
  });

  const bad: [Record<string, unknown>, string][] = [
    [{ peft_type: "IA3" }, 'field "peft_type": IA3 (only LORA)'],
    [{ use_dora: true }, 'field "use_dora"'],
    [{ fan_in_fan_out: true }, 'field "fan_in_fan_out"'],
    [{ bias: "all" }, 'field "bias": "all"'],
    [{ rank_pattern: { q_proj: 4 } }, 'field "rank_pattern"'],
    [{ alpha_pattern: { q_proj: 4 } }, 'field "alpha_pattern"'],
    [{ modules_to_save: ["lm_head"] }, 'field "modules_to_save"'],
    [{ r: 0 }, 'adapter config field "r"'],
  ];
  for (const [raw, message] of bad) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      expect(() => parseAdapterConfig(raw, "a/adapter_config.json")).toThrow(FormatError);
      expect(() => parseAdapterConfig(raw, "a/adapter_config.json")).toThrow(`a/adapter_config.json: `);
      expect(() => parseAdapterConfig(raw)).toThrow(message);
    });
  }
});

describe("adapter tensors", () => {
  const model = parseConfig(CONFIG);
  const fixture = loraFixtureTensors(CONFIG, ["self_attn.q_proj"], 2, gaussians(1));

  it("rejects LoRA outside the decoder layers' linear modules", async () => {
    const t = new Map(fixture.tensors);
    t.set("base_model.model.lm_head.lora_A.weight", tensorFromFloat32(new Float32Array(64), [2, 32], "F32"));
    t.set(
      "base_model.model.lm_head.lora_B.weight",
      tensorFromFloat32(new Float32Array(240), [120, 2], "F32"),
    );
    await expect(loadAdapter(new MemoryTensorSource(t), fixture.adapterConfig, model, "ad")).rejects.toThrow(
      'ad: module "lm_head": LoRA on "lm_head" is not supported',
    );
  });

  it("names a missing half and a wrong shape", async () => {
    const t = new Map(fixture.tensors);
    t.delete("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight");
    await expect(loadAdapter(new MemoryTensorSource(t), fixture.adapterConfig, model, "ad")).rejects.toThrow(
      'ad: module "model.layers.1.self_attn.q_proj": lora_B.weight is missing',
    );
    const u = new Map(fixture.tensors);
    u.set(
      "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
      tensorFromFloat32(new Float32Array(40), [2, 20], "F32"),
    );
    await expect(loadAdapter(new MemoryTensorSource(u), fixture.adapterConfig, model, "ad")).rejects.toThrow(
      'ad: module "model.layers.0.self_attn.q_proj": lora_A.weight has shape [2,20], expected [r, 32]',
    );
  });

  it("rejects tensors that are not LoRA weights", async () => {
    const t = new Map(fixture.tensors);
    t.set("base_model.model.model.embed_tokens.weight", tensorFromFloat32(new Float32Array(4), [4], "F32"));
    await expect(loadAdapter(new MemoryTensorSource(t), fixture.adapterConfig, model, "ad")).rejects.toThrow(
      'ad: tensor "base_model.model.model.embed_tokens.weight" is not a LoRA A/B weight',
    );
  });
});

describe("applying an adapter", () => {
  it("folds W + scaling·B·A exactly as the definition", () => {
    const w = Float32Array.from({ length: 12 }, (_, i) => i / 10); // [out 3, in 4]
    const a = Float32Array.from([1, 0, 2, -1, 0.5, 1, 0, 3]); // [r 2, in 4]
    const b = Float32Array.from([1, 2, -1, 0, 0.5, 0.25]); // [out 3, r 2]
    const folded = foldLoraInto(Float32Array.from(w), { a, b, rank: 2, inFeatures: 4, outFeatures: 3 }, 0.5);
    for (let o = 0; o < 3; o++) {
      for (let i = 0; i < 4; i++) {
        const delta = b[o * 2]! * a[i]! + b[o * 2 + 1]! * a[4 + i]!;
        expect(folded[o * 4 + i]).toBeCloseTo(w[o * 4 + i]! + 0.5 * delta, 6);
      }
    }
  });

  it("at run time and folded, matches the reference with LoRA and differs from the base model", async () => {
    const weights = randomWeights("llama", SHAPE, 2, 0.2);
    const tensors = toTensors(weights, expectedTensors("llama", SHAPE));
    const lora = await loraFixture(
      CONFIG,
      ["self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"],
      3,
      gaussians(9),
    );
    const runtime = await modelFrom(CONFIG, tensors, { sessionCache: sessions, adapter: lora.adapter });
    const folded = await modelFrom(CONFIG, tensors, {
      sessionCache: sessions,
      adapter: lora.adapter,
      foldAdapter: true,
    });
    const base = await modelFrom(CONFIG, tensors, { sessionCache: sessions });
    expect(runtime.weights.layers[0]!.lora).toEqual(
      new Map([
        ["self_attn.q_proj", 3],
        ["self_attn.o_proj", 3],
        ["mlp.gate_proj", 3],
        ["mlp.down_proj", 3],
      ]),
    );
    expect(folded.weights.layers[0]!.lora).toBeNull();

    const ref = referenceForward(CONFIG, weights, ROWS, { lora: lora.reference });
    const n = 5 * SHAPE.vocab;
    const r = await forward(runtime, ROWS);
    const f = await forward(folded, ROWS);
    const b = await forward(base, ROWS);
    expect(relativeError(r.logits!, 0, ref.logits[0]!, 0, n)).toBeLessThan(1e-4);
    expect(relativeError(f.logits!, 0, ref.logits[0]!, 0, n)).toBeLessThan(1e-4);
    expect(relativeError(b.logits!, 0, ref.logits[0]!, 0, n)).toBeGreaterThan(1e-2);
  });
});
