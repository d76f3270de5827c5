/**
 * Generation: the KV-cache path gives exactly the tokens of step-by-step full recomputation (our own no-cache
 * path, and the float64 reference's greedy loop), batched with left padding; sampling is reproducible by seed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../src/runtime/generate.js";
import { modelFrom, testSessions, toTensors } from "./helpers.js";
import { loraFixture } from "./lora-fixture.js";
import { referenceGenerate } from "./reference/forward64.js";
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

const SHAPE: TinyShape = {
  vocab: 120,
  hidden: 32,
  layers: 2,
  heads: 4,
  kvHeads: 2,
  intermediate: 48,
  tied: false,
};
const PROMPTS = [
  [5, 17, 42, 99, 3, 11],
  [30, 2],
  [9, 9, 101, 33],
];
const MAX_NEW = 8;

async function tinyModel(arch: Arch, extra: Record<string, unknown> = {}, withLora = false) {
  const config = tinyConfig(arch, SHAPE, { eos_token_id: 4, ...extra });
  const weights = randomWeights(arch, SHAPE, 11, 0.25);
  const lora = withLora
    ? await loraFixture(config, ["self_attn.k_proj", "mlp.up_proj"], 2, gaussians(5))
    : null;
  const model = await modelFrom(config, toTensors(weights, expectedTensors(arch, SHAPE)), {
    sessionCache: sessions,
    adapter: lora?.adapter ?? null,
  });
  return { model, config, weights, lora };
}

describe("greedy generation", () => {
  const cases: [string, Arch, Record<string, unknown>, boolean][] = [
    ["llama (GQA)", "llama", {}, false],
    ["olmo (clip_qkv)", "olmo", { clip_qkv: 0.8 }, false],
    ["qwen2 with a LoRA adapter", "qwen2", {}, true],
  ];
  for (const [name, arch, extra, withLora] of cases) {
    it(`${name}: cache = recomputation = reference`, async () => {
      const { model, config, weights, lora } = await tinyModel(arch, extra, withLora);
      const cached = await generate(model, PROMPTS, { maxNewTokens: MAX_NEW });
      const recomputed = await generate(model, PROMPTS, { maxNewTokens: MAX_NEW, useCache: false });
      expect(cached).toEqual(recomputed);
      const ref = referenceGenerate(
        config,
        weights,
        PROMPTS,
        MAX_NEW,
        4,
        lora ? { lora: lora.reference } : {},
      );
      const ours = cached.map((g) => (g.finishReason === "eos" ? [...g.tokens, 4] : g.tokens));
      expect(ours).toEqual(ref);
      // Something was generated, so the comparison is not vacuous.
      expect(ours.flat().length).toBeGreaterThan(PROMPTS.length);
    });
  }

  it("stops a row at EOS while the others continue", async () => {
    const { model } = await tinyModel("llama");
    const free = await generate(model, PROMPTS, { maxNewTokens: MAX_NEW, eosTokenIds: [] });
    expect(free.every((g) => g.finishReason === "length" && g.tokens.length === MAX_NEW)).toBe(true);
    // Declare row 1's third token an EOS: row 1 stops there; rows that never produce it run to the limit.
    const stop = free[1]!.tokens[2]!;
    const stopped = await generate(model, PROMPTS, { maxNewTokens: MAX_NEW, eosTokenIds: [stop] });
    expect(stopped[1]).toEqual({ tokens: free[1]!.tokens.slice(0, 2), finishReason: "eos" });
    free.forEach((g, b) => {
      const cut = g.tokens.indexOf(stop);
      const expected =
        cut < 0
          ? { tokens: g.tokens, finishReason: "length" }
          : { tokens: g.tokens.slice(0, cut), finishReason: "eos" };
      expect(stopped[b]).toEqual(expected);
    });
  });

  it("a prompt's continuation does not depend on the other rows in the batch", async () => {
    const { model } = await tinyModel("llama");
    const batched = await generate(model, PROMPTS, { maxNewTokens: 5, eosTokenIds: [] });
    for (const [b, p] of PROMPTS.entries()) {
      expect((await generate(model, [p], { maxNewTokens: 5, eosTokenIds: [] }))[0]).toEqual(batched[b]);
    }
  });
});

describe("sampling", () => {
  it("is reproducible by seed, the same with and without the cache, and top-p → 0 is greedy", async () => {
    const { model } = await tinyModel("llama");
    const opts = { maxNewTokens: MAX_NEW, eosTokenIds: [], temperature: 1.5, topP: 0.95 };
    const a = await generate(model, PROMPTS, { ...opts, seed: 1 });
    expect(await generate(model, PROMPTS, { ...opts, seed: 1 })).toEqual(a);
    expect(await generate(model, PROMPTS, { ...opts, seed: 1, useCache: false })).toEqual(a);
    const b = await generate(model, PROMPTS, { ...opts, seed: 2 });
    expect(b).not.toEqual(a);
    const greedy = await generate(model, PROMPTS, { maxNewTokens: MAX_NEW, eosTokenIds: [] });
    expect(await generate(model, PROMPTS, { ...opts, topP: 1e-9, seed: 3 })).toEqual(greedy);
  });
});
