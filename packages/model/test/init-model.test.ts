import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeToFloat32,
  openCheckpoint,
  roundToBf16InPlace,
  verifyCheckpoint,
  type WeightsReader,
} from "@lethe/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTinyModel, type TinyModelOptions } from "../src/init/create.js";
import { NormalStream } from "../src/init/random.js";
import { loadTokenizer } from "../src/tokenizer/load.js";
import { trainByteLevelBpe } from "../src/tokenizer/train.js";
import { referenceForward } from "./reference/forward64.js";
import { type Arch, expectedTensors } from "./reference/tiny-models.js";

const TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog.\n".repeat(30);
const TOKENIZER = trainByteLevelBpe(TEXT, { vocabSize: 300 });
const VOCAB = Object.keys(TOKENIZER["tokenizer.json"].model.vocab).length;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "lethe-init-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = (arch: Arch): TinyModelOptions => ({
  arch,
  layers: 2,
  hidden: 16,
  heads: 4,
  kvHeads: 2,
  intermediate: 24,
  tokenizer: TOKENIZER,
  seed: 42,
});

async function readAll(weights: WeightsReader): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const name of weights.names()) {
    const t = await weights.readTensor(name);
    out.set(name, decodeToFloat32(t.data, t.dtype as "F32" | "BF16"));
  }
  return out;
}

/** The config.json each transformers class expects, written out here key by key. */
function expectedConfig(arch: Arch, tied: boolean): Record<string, unknown> {
  const common = {
    architectures: [{ llama: "LlamaForCausalLM", olmo: "OlmoForCausalLM", qwen2: "Qwen2ForCausalLM" }[arch]],
    model_type: arch,
    attention_dropout: 0,
    eos_token_id: 0,
    pad_token_id: 1,
    hidden_act: "silu",
    hidden_size: 16,
    initializer_range: 0.02,
    intermediate_size: 24,
    max_position_embeddings: 2048,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    num_key_value_heads: 2,
    rope_scaling: null,
    rope_theta: 10000,
    tie_word_embeddings: tied,
    torch_dtype: "float32",
    transformers_version: "4.46.0",
    use_cache: true,
    vocab_size: VOCAB,
  };
  if (arch === "llama") {
    return {
      ...common,
      bos_token_id: 0,
      rms_norm_eps: 1e-6,
      attention_bias: false,
      mlp_bias: false,
      head_dim: 4,
      pretraining_tp: 1,
    };
  }
  if (arch === "olmo") return { ...common, bos_token_id: null, attention_bias: false, clip_qkv: null };
  return {
    ...common,
    bos_token_id: 0,
    rms_norm_eps: 1e-6,
    use_sliding_window: false,
    sliding_window: 2048,
    max_window_layers: 2,
  };
}

describe("createTinyModel", () => {
  for (const arch of ["llama", "olmo", "qwen2"] as const) {
    it(`${arch}: HF config keys, tensor names and shapes, a verified checkpoint`, async () => {
      const uri = join(root, arch);
      const model = await createTinyModel(uri, base(arch));
      expect(model.vocabSize).toBe(VOCAB);
      const ckpt = await openCheckpoint(uri);
      expect(ckpt.config).toEqual(expectedConfig(arch, false));
      expect(ckpt.manifest?.stage).toBe("init");
      expect(ckpt.manifest?.parameters).toMatchObject({ arch, seed: 42, layers: 2, dtype: "F32" });
      const expected = expectedTensors(arch, {
        vocab: VOCAB,
        hidden: 16,
        layers: 2,
        heads: 4,
        kvHeads: 2,
        intermediate: 24,
        tied: false,
      });
      const names = ckpt.weights!.names();
      expect([...names].sort()).toEqual([...expected.keys()].sort());
      for (const name of names) {
        const entry = await ckpt.weights!.entry(name);
        expect(entry.shape, name).toEqual(expected.get(name));
        expect(entry.dtype).toBe("F32");
      }
      const files = ckpt.manifest!.files.map((f) => f.path);
      expect(files).toEqual([
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
      const verified = await verifyCheckpoint(uri);
      expect(verified.problems).toEqual([]);
      expect(verified.ok).toBe(true);
      const generation = JSON.parse(await readFile(join(uri, "generation_config.json"), "utf8"));
      expect(generation).toMatchObject({ eos_token_id: 0, pad_token_id: 1 });
      ckpt.weights!.close();
    });
  }

  it("initialises like transformers: N(0, 0.02) weights, zero pad row, unit norms, zero biases", async () => {
    const uri = join(root, "stats");
    await createTinyModel(uri, { ...base("qwen2"), hidden: 64, heads: 4, intermediate: 256, layers: 1 });
    const ckpt = await openCheckpoint(uri);
    const w = await readAll(ckpt.weights!);
    for (const name of [
      "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight",
      "lm_head.weight",
    ]) {
      const values = w.get(name)!;
      const mean = values.reduce((s, x) => s + x, 0) / values.length;
      const std = Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / values.length);
      expect(Math.abs(mean), name).toBeLessThan(0.001);
      expect(Math.abs(std - 0.02), name).toBeLessThan(0.0006);
      // Gaussian tails: about 4.55% of samples beyond 2 sigma.
      const beyond = values.filter((x) => Math.abs(x) > 0.04).length / values.length;
      expect(Math.abs(beyond - 0.0455), name).toBeLessThan(0.006);
    }
    const embed = w.get("model.embed_tokens.weight")!;
    expect(embed.subarray(64, 128).every((x) => x === 0)).toBe(true); // pad id 1
    expect(embed.subarray(0, 64).some((x) => x !== 0)).toBe(true);
    expect(w.get("model.norm.weight")!.every((x) => x === 1)).toBe(true);
    expect(w.get("model.layers.0.input_layernorm.weight")!.every((x) => x === 1)).toBe(true);
    expect(w.get("model.layers.0.self_attn.q_proj.bias")!.every((x) => x === 0)).toBe(true);
    ckpt.weights!.close();
  });

  it("is deterministic for a seed, and each tensor depends only on (seed, name)", async () => {
    await createTinyModel(join(root, "det-a"), base("llama"));
    await createTinyModel(join(root, "det-b"), base("llama"));
    await createTinyModel(join(root, "det-c"), { ...base("llama"), seed: 43 });
    await createTinyModel(join(root, "det-d"), { ...base("llama"), layers: 1 });
    const bytes = (d: string) => readFile(join(root, d, "model.safetensors"));
    expect((await bytes("det-a")).equals(await bytes("det-b"))).toBe(true);
    expect((await bytes("det-a")).equals(await bytes("det-c"))).toBe(false);
    const a = await readAll((await openCheckpoint(join(root, "det-a"))).weights!);
    const d = await readAll((await openCheckpoint(join(root, "det-d"))).weights!);
    expect(d.get("model.layers.0.self_attn.q_proj.weight")).toEqual(
      a.get("model.layers.0.self_attn.q_proj.weight"),
    );
    expect(a.get("model.layers.0.self_attn.q_proj.weight")).not.toEqual(
      a.get("model.layers.0.self_attn.k_proj.weight"),
    );
  });

  it("bf16 stores the float32 init rounded to bfloat16; tied models have no lm_head", async () => {
    await createTinyModel(join(root, "f32"), base("olmo"));
    await createTinyModel(join(root, "bf16"), { ...base("olmo"), dtype: "BF16", tieEmbeddings: true });
    const f32 = await readAll((await openCheckpoint(join(root, "f32"))).weights!);
    const ckpt = await openCheckpoint(join(root, "bf16"));
    expect(ckpt.config?.["torch_dtype"]).toBe("bfloat16");
    expect(ckpt.config?.["tie_word_embeddings"]).toBe(true);
    expect((await ckpt.weights!.entry("model.embed_tokens.weight")).dtype).toBe("BF16");
    const bf16 = await readAll(ckpt.weights!);
    expect(bf16.has("lm_head.weight")).toBe(false);
    const name = "model.layers.1.mlp.gate_proj.weight";
    expect(bf16.get(name)).toEqual(roundToBf16InPlace(Float32Array.from(f32.get(name)!)));
  });

  it("trains its tokenizer from text, and the reference forward runs on what was written", async () => {
    const uri = join(root, "from-text");
    const model = await createTinyModel(uri, {
      ...base("llama"),
      tokenizer: undefined,
      vocabFrom: TEXT,
      vocabSize: 270,
      ropeScaling: {
        rope_type: "llama3",
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 64,
      },
      ropeTheta: 500000,
    });
    const tok = await loadTokenizer(uri);
    expect(tok.vocabSize).toBe(270);
    expect(model.config["vocab_size"]).toBe(270);
    expect(model.config["rope_scaling"]).toEqual({
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    });
    const ckpt = await openCheckpoint(uri);
    const weights = await readAll(ckpt.weights!);
    const ids = tok.encode("the cat sat on the log.");
    const out = referenceForward(ckpt.config!, weights, [ids]);
    expect(out.logits[0]!.length).toBe(ids.length * 270);
    expect(out.logits[0]!.every(Number.isFinite)).toBe(true);
    // Small init: the logits are near zero, so the next-token distribution is nearly uniform.
    expect(Math.max(...out.logits[0]!.map(Math.abs))).toBeLessThan(1);
  });

  it("names the bad option", async () => {
    await expect(createTinyModel(join(root, "bad1"), { ...base("llama"), hidden: 18 })).rejects.toThrow(
      "hidden (18) must be divisible by heads (4)",
    );
    await expect(createTinyModel(join(root, "bad2"), { ...base("llama"), kvHeads: 3 })).rejects.toThrow(
      "heads (4) must be divisible by kvHeads (3)",
    );
    await expect(createTinyModel(join(root, "bad3"), { ...base("qwen2"), clipQkv: 8 })).rejects.toThrow(
      "clipQkv is an OLMo option; arch is qwen2",
    );
    await expect(
      createTinyModel(join(root, "bad4"), { ...base("llama"), tokenizer: undefined }),
    ).rejects.toThrow("give either vocabFrom (text to train a tokenizer on) or tokenizer");
  });
});

describe("NormalStream", () => {
  it("gives standard normal samples (moments) and different streams per label", () => {
    const s = new NormalStream(7, "x");
    const n = 20000;
    let sum = 0;
    let sq = 0;
    let fourth = 0;
    for (let i = 0; i < n; i++) {
      const z = s.normal();
      sum += z;
      sq += z * z;
      fourth += z ** 4;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.04);
    expect(Math.abs(fourth / n - 3)).toBeLessThan(0.25); // normal kurtosis
    const a = new NormalStream(7, "x").normal();
    expect(new NormalStream(7, "x").normal()).toBe(a);
    expect(new NormalStream(7, "y").normal()).not.toBe(a);
    expect(new NormalStream(8, "x").normal()).not.toBe(a);
  });
});
