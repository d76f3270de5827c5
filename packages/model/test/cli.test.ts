/**
 * Checkpoints on disk end to end: `lethe-model forward` / `generate` on a tiny bf16 checkpoint written by
 * createTinyModel, with a PEFT adapter directory, checked against the float64 reference run on the tensors read
 * back from the files.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, openCheckpoint, SafetensorsFile, SafetensorsWriter, tensorToFloat32 } from "@lethe/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseIds, runForward } from "../src/cli/forward.js";
import { runGenerate } from "../src/cli/generate.js";
import { main } from "../src/cli/lethe-model.js";
import { createTinyModel } from "../src/init/create.js";
import { loadModel } from "../src/runtime/load.js";
import { loadTokenizer } from "../src/tokenizer/load.js";
import { relativeError } from "./helpers.js";
import { loraFixtureTensors } from "./lora-fixture.js";
import { referenceForward, referenceGenerate, type Weights } from "./reference/forward64.js";
import { gaussians } from "./reference/tiny-models.js";

const TEXT =
  "the quick brown fox jumps over the lazy dog. unlearning removes what a model knows about the forget set. ".repeat(
    20,
  );
let dir: string;
let base: string;
let adapterDir: string;
let config: Record<string, unknown>;
let weights: Weights;
let lora: ReturnType<typeof loraFixtureTensors>;
const capture = () => {
  let text = "";
  return {
    write: (s: string) => (text += s),
    get text() {
      return text;
    },
  };
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lethe-model-cli-"));
  base = join(dir, "base");
  const tiny = await createTinyModel(base, {
    arch: "llama",
    layers: 2,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    intermediate: 48,
    vocabFrom: TEXT,
    vocabSize: 300,
    seed: 3,
    dtype: "BF16",
    initializerRange: 0.3,
    normAndBiasStd: 0.1,
  });
  config = tiny.config;
  const ckpt = await openCheckpoint(base);
  weights = new Map();
  for (const name of ckpt.weights!.names())
    weights.set(name, tensorToFloat32(await ckpt.weights!.readTensor(name)));
  ckpt.weights!.close();

  // A PEFT adapter directory: adapter_config.json + adapter_model.safetensors.
  adapterDir = join(dir, "adapter");
  lora = loraFixtureTensors(config, ["self_attn.v_proj", "mlp.up_proj"], 2, gaussians(8));
  const store = new FileStore(adapterDir);
  await store.put("adapter_config.json", new TextEncoder().encode(JSON.stringify(lora.adapterConfig)));
  const specs = [...lora.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  const writer = new SafetensorsWriter(store.createWriter("adapter_model.safetensors"), specs);
  for (const name of writer.order) await writer.writeTensor(name, lora.tensors.get(name)!.data);
  await writer.finish();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readOutput(path: string) {
  const file = await SafetensorsFile.open(new FileStore(dir), path.slice(dir.length + 1));
  const out = new Map<string, { shape: number[]; values: Float32Array | BigInt64Array }>();
  for (const e of file.tensors) {
    const t = await file.readTensor(e.name);
    const values = t.dtype === "I64" ? new BigInt64Array(t.data.slice().buffer) : tensorToFloat32(t);
    out.set(e.name, { shape: t.shape, values });
  }
  return out;
}

describe("lethe-model forward", () => {
  it("writes logits and every hidden state, matching the reference (with and without an adapter)", async () => {
    const rows = [
      [5, 17, 42, 99, 3],
      [30, 2],
    ];
    for (const withAdapter of [false, true]) {
      const out = join(dir, withAdapter ? "fwd-lora.safetensors" : "fwd.safetensors");
      const stdout = capture();
      const argv = [base, "--ids", "5,17,42,99,3; 30,2", "--out", out, "--threads", "1"];
      if (withAdapter) argv.push("--adapter", adapterDir);
      expect(await runForward(argv, stdout)).toBe(0);
      expect(stdout.text).toContain("logits [2,5,300]");
      const file = await readOutput(out);
      expect([...file.keys()].sort()).toEqual([
        "attention_mask",
        "hidden.embed",
        "hidden.layer.0",
        "hidden.layer.1",
        "logits",
      ]);
      expect([...(file.get("attention_mask")!.values as BigInt64Array)]).toEqual([
        1n,
        1n,
        1n,
        1n,
        1n,
        0n,
        0n,
        0n,
        1n,
        1n,
      ]);
      const ref = referenceForward(config, weights, rows, withAdapter ? { lora: lora.reference } : {});
      const V = 300;
      const D = 32;
      expect(file.get("logits")!.shape).toEqual([2, 5, V]);
      const logits = file.get("logits")!.values as Float32Array;
      expect(relativeError(logits, 0, ref.logits[0]!, 0, 5 * V)).toBeLessThan(1e-4);
      // Row 1 is left-padded by 3: its real positions match the reference, its pad positions are zeros.
      expect(relativeError(logits, (5 + 3) * V, ref.logits[1]!, 3 * V, 2 * V)).toBeLessThan(1e-4);
      expect(logits.subarray(5 * V, 8 * V).every((v) => v === 0)).toBe(true);
      for (let l = 0; l < 2; l++) {
        const h = file.get(`hidden.layer.${l}`)!.values as Float32Array;
        expect(relativeError(h, 0, ref.hidden.layers[l]![0]!, 0, 5 * D)).toBeLessThan(1e-4);
        expect(relativeError(h, 8 * D, ref.hidden.layers[l]![1]!, 3 * D, 2 * D)).toBeLessThan(1e-4);
      }
    }
  });

  it("loads the adapter through loadModel as well, and refuses an adapter-only checkpoint as the base", async () => {
    const m = await loadModel(base, { adapter: adapterDir, intraOpNumThreads: 1 });
    expect(m.adapter?.modules.size).toBe(4);
    expect(m.adapter?.config.scaling).toBe(8);
    await expect(loadModel(adapterDir)).rejects.toThrow(
      "config.json: not found (this is a LoRA adapter: load the base model with this as its adapter)",
    );
  });

  it("parses --ids and reports usage errors with exit code 2", async () => {
    expect(parseIds("1,2,3; 4 ,5")).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(() => parseIds("1,x")).toThrow('--ids: row 0: "x" is not a token id');
    expect(() => parseIds("1;;2")).toThrow("--ids: row 1 is empty");
    const stderr = capture();
    expect(await main(["forward", base, "--ids", "1,2"], stderr)).toBe(2);
    expect(stderr.text).toContain("lethe-model forward: --out is required");
    expect(stderr.text).toContain("usage: lethe-model forward CHECKPOINT");
    await expect(main(["nope"])).rejects.toThrow('unknown command "nope"');
  });
});

describe("lethe-model generate", () => {
  it("prints the reference's greedy continuation of the encoded prompt", async () => {
    const stdout = capture();
    expect(
      await runGenerate(
        [base, "--prompt", "the quick brown", "--max-new-tokens", "6", "--threads", "1"],
        stdout,
      ),
    ).toBe(0);
    const tokenizer = await loadTokenizer(base);
    const ids = tokenizer.encode("the quick brown");
    const eos = tokenizer.eosId;
    const ref = referenceGenerate(config, weights, [ids], 6, eos)[0]!.filter((t) => t !== eos);
    expect(ref.length).toBeGreaterThan(0);
    expect(stdout.text).toBe(`${tokenizer.decode(ref, { skipSpecialTokens: true })}\n`);
  });
});

describe("lethe-model generate --chat", () => {
  it("renders the checkpoint's chat template around the prompt, and refuses a checkpoint without one", async () => {
    const chatDir = join(dir, "chat");
    await cp(base, chatDir, { recursive: true });
    const configPath = join(chatDir, "tokenizer_config.json");
    const tokenizerConfig = JSON.parse(await readFile(configPath, "utf8"));
    tokenizerConfig.chat_template =
      "{{ eos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}" +
      "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
    await writeFile(configPath, JSON.stringify(tokenizerConfig));
    const stdout = capture();
    expect(
      await runGenerate(
        [chatDir, "--chat", "--prompt", "the quick", "--max-new-tokens", "4", "--threads", "1"],
        stdout,
      ),
    ).toBe(0);
    const tokenizer = await loadTokenizer(chatDir);
    // What the template must produce, written out by hand.
    const rendered = `${tokenizerConfig.eos_token}<|user|>\nthe quick\n<|assistant|>\n`;
    const ids = tokenizer.encode(rendered, { addSpecialTokens: false });
    expect(ids[0]).toBe(tokenizer.eosId);
    const eos = tokenizer.eosId;
    const ref = referenceGenerate(config, weights, [ids], 4, eos)[0]!.filter((t) => t !== eos);
    expect(stdout.text).toBe(`${tokenizer.decode(ref, { skipSpecialTokens: true })}\n`);
    await expect(runGenerate([base, "--chat", "--prompt", "hi"], capture())).rejects.toThrow(
      "has no chat template (tokenizer_config.json chat_template or chat_template.jinja)",
    );
  });
});
