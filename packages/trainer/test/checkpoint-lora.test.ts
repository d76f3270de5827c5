/**
 * LoRA checkpoints: a PEFT adapter that @lethe/model's loadAdapter reads back to the masters bit for bit and
 * that gives the same logits as the adapter held in memory; the manifest's parents and config; the optimizer
 * state round-tripping exactly; named errors on a resume against other parameters; no checkpoint after an
 * interrupted write.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { openCheckpoint, SafetensorsFile } from "@lethe/core";
import { type LoraAdapter, type LoraModule, loadAdapterFrom, type Model } from "@lethe/model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTrainingState, writeTrainingCheckpoint } from "../src/checkpoint/index.js";
import { AdamW } from "../src/optim/adamw.js";
import { ParameterSet } from "../src/params.js";
import {
  dataFiles,
  entries,
  load,
  perturb,
  resolvedConfig,
  sameBits,
  steppedOptimizer,
  tempDir,
  tinyBase,
} from "./checkpoint-fixtures.js";

const PROGRESS = {
  epoch: 2,
  step: 3,
  examplesSeen: 24,
  seeds: { shuffle: 42, dropout: 7 },
  best: { metric: "final", value: 0.61, epoch: 1 },
  rng: { dropoutCalls: 12 },
};
const ROWS = [
  [5, 9, 12, 40, 41],
  [7, 3, 22, 8, 100],
];

/** The adapter as the trainer holds it, built straight from the masters. */
function inMemoryAdapter(params: ParameterSet): LoraAdapter {
  const modules = new Map<string, LoraModule>();
  for (const p of params.params) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(p.name)!;
    const entry = modules.get(m[1]!) ?? ({ rank: 4 } as LoraModule);
    if (m[2] === "A") Object.assign(entry, { a: p.value, inFeatures: p.shape[1] });
    else Object.assign(entry, { b: p.value, outFeatures: p.shape[0] });
    modules.set(m[1]!, entry);
  }
  return {
    config: {
      r: 4,
      loraAlpha: 8,
      useRslora: false,
      targetModules: ["q_proj", "v_proj", "down_proj"],
      scaling: 2,
    },
    modules,
    source: "memory",
  };
}

describe("LoRA training checkpoints", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let base: string;
  let model: Model;
  let params: ParameterSet;
  let adam: AdamW;
  let data: Awaited<ReturnType<typeof dataFiles>>;
  let out: string;

  beforeAll(async () => {
    tmp = await tempDir();
    base = await tinyBase(tmp.dir, { dtype: "F32", tied: false });
    data = await dataFiles(tmp.dir);
    model = await load(base);
    params = new ParameterSet(model, {
      lora: { r: 4, alpha: 8, seed: 1, targetModules: ["q_proj", "v_proj", "mlp.down_proj"] },
    });
    perturb(params, 3); // B off zero, so the adapter changes the logits
    adam = steppedOptimizer(params, 3);
    out = path.join(tmp.dir, "out", "epoch-1");
    await writeTrainingCheckpoint(out, {
      mode: "lora",
      params: params.params,
      source: base,
      lora: { r: 4, alpha: 8, dropout: 0.05, target_modules: ["q_proj", "v_proj", "mlp.down_proj"] },
      config: resolvedConfig(base, path.join(tmp.dir, "out"), "lora"),
      data: data.map(({ role, uri }) => ({ role, uri })), // sha256 computed by the writer
      resume: { optimizer: adam.state, progress: PROGRESS },
    });
  });

  afterAll(async () => {
    await model.sessions.release();
    await tmp.cleanup();
  });

  it("writes a PEFT adapter: adapter_config.json and PEFT-named f32 factors", async () => {
    const config = JSON.parse(await readFile(path.join(out, "adapter_config.json"), "utf8"));
    expect(config).toMatchObject({
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0.05,
      target_modules: ["q_proj", "v_proj", "down_proj"],
      bias: "none",
      use_rslora: false,
      fan_in_fan_out: false,
      inference_mode: true,
      base_model_name_or_path: base,
    });
    const ckpt = await openCheckpoint(out);
    expect(ckpt.config).toBeNull(); // an adapter, not a model
    const file = await SafetensorsFile.open(ckpt.store, "adapter_model.safetensors");
    expect(file.names().sort()).toEqual(params.params.map((p) => p.name).sort());
    expect(file.names()).toContain("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
    for (const t of file.tensors) expect(t.dtype).toBe("F32");
    expect(file.metadata).toEqual({ format: "pt" });
    for (const key of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"])
      expect(await readFile(path.join(out, key))).toEqual(await readFile(path.join(base, key)));
  });

  it("loads through @lethe/model to the masters bit for bit, with the in-memory adapter's logits", async () => {
    const adapter = await loadAdapterFrom(out, model.config);
    expect(adapter.config.scaling).toBe(params.loraScaling);
    expect(adapter.modules.size).toBe(params.params.length / 2);
    for (const p of params.params) {
      const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(p.name)!;
      const module = adapter.modules.get(m[1]!)!;
      expect(sameBits(m[2] === "A" ? module.a : module.b, p.value), p.name).toBe(true);
    }
    const fromDisk = await load(base, out);
    const fromMemory = await load(base, inMemoryAdapter(params));
    try {
      const a = (await fromDisk.forward(ROWS)).logits!;
      const b = (await fromMemory.forward(ROWS)).logits!;
      const plain = (await model.forward(ROWS)).logits!;
      expect(sameBits(a, b)).toBe(true);
      expect(sameBits(a, plain)).toBe(false);
    } finally {
      await fromDisk.sessions.release();
      await fromMemory.sessions.release();
    }
  });

  it("records parents, data sha256, the LoRA settings and the resolved config in lethe.json", async () => {
    const { manifest } = await openCheckpoint(out);
    expect(manifest!.stage).toBe("train");
    expect(manifest!.parents).toEqual([`file://${base}`, ...data.map((d) => d.uri)]);
    expect(manifest!.parameters.data).toEqual(data);
    expect(manifest!.parameters.mode).toBe("lora");
    expect(manifest!.parameters.adapter).toBeNull();
    expect(manifest!.parameters.lora).toMatchObject({ r: 4, alpha: 8, rslora: false });
    expect(manifest!.parameters.config).toEqual(resolvedConfig(base, path.join(tmp.dir, "out"), "lora"));
    expect(manifest!.files.map((f) => f.path)).toContain("trainer_state/optimizer.safetensors");
  });

  it("round-trips the optimizer state, progress and masters bit for bit", async () => {
    const state = await readTrainingState(out, { params: params.params, mode: "lora", resume: true });
    expect(state.progress).toEqual(PROGRESS);
    expect(state.config.params.mode).toBe("lora");
    expect(state.optimizer!.step).toBe(3);
    params.params.forEach((p, k) => {
      expect(sameBits(state.optimizer!.m[k]!, adam.state.m[k]!), `m.${p.name}`).toBe(true);
      expect(sameBits(state.optimizer!.v[k]!, adam.state.v[k]!), `v.${p.name}`).toBe(true);
      expect(sameBits(state.values.get(p.name)!, p.value), p.name).toBe(true);
    });
    // a fresh optimizer loaded from it continues exactly as the original
    const copy = params.params.map((p) => ({
      value: Float32Array.from(p.value),
      grad: Float32Array.from(p.grad),
    }));
    const resumed = new AdamW(copy, adam.options);
    resumed.load(state.optimizer!);
    adam.step(1e-3);
    resumed.step(1e-3);
    for (const [k, c] of copy.entries()) expect(sameBits(c.value, params.params[k]!.value)).toBe(true);
  });

  it("orders the state by the run's parameters and names the first mismatch", async () => {
    const reversed = [...params.params].reverse();
    const state = await readTrainingState(out, { params: reversed });
    const stored = await readTrainingState(out);
    expect(state.params.map((p) => p.name)).toEqual(reversed.map((p) => p.name));
    expect(stored.params.map((p) => p.name)).toEqual(params.params.map((p) => p.name));
    expect(sameBits(state.optimizer!.m[0]!, stored.optimizer!.m.at(-1)!)).toBe(true);
    expect(sameBits(state.optimizer!.v[0]!, stored.optimizer!.v.at(-1)!)).toBe(true);

    const fewer = params.params.slice(2);
    await expect(readTrainingState(out, { params: fewer })).rejects.toThrow(
      `parameter "${params.params[0]!.name}" is in the checkpoint but not in this run`,
    );
    const other = [...params.params, { name: "model.layers.0.mlp.up_proj.weight", shape: [32, 16] }];
    await expect(readTrainingState(out, { params: other })).rejects.toThrow(
      'parameter "model.layers.0.mlp.up_proj.weight" of this run is not in the checkpoint',
    );
    const reshaped = params.params.map((p, k) => (k === 1 ? { name: p.name, shape: [8, 4] } : p));
    await expect(readTrainingState(out, { params: reshaped })).rejects.toThrow(
      `parameter "${params.params[1]!.name}" has shape [${params.params[1]!.shape}] in the checkpoint, [8,4] in this run`,
    );
    await expect(readTrainingState(out, { mode: "full" })).rejects.toThrow(
      "it was trained in lora mode, this run is full",
    );
  });

  it("leaves nothing visible when the write fails midway", async () => {
    const parent = path.join(tmp.dir, "interrupted");
    const target = path.join(parent, "ckpt");
    const before = await entries(tmp.dir);
    const landed: string[] = [];
    await expect(
      writeTrainingCheckpoint(target, {
        mode: "lora",
        params: params.params,
        source: base,
        lora: { r: 4, alpha: 8, dropout: 0, target_modules: ["q_proj", "v_proj", "down_proj"] },
        config: resolvedConfig(base, parent, "lora"),
        data,
        resume: { optimizer: adam.state, progress: PROGRESS },
        onFile: (file) => {
          landed.push(file);
          if (file === "tokenizer.json") throw new Error("disk full (simulated)");
        },
      }),
    ).rejects.toThrow("disk full (simulated)");
    expect(landed).toContain("adapter_model.safetensors");
    // the parent was created for staging; neither the checkpoint nor its staging directory remains
    expect(await entries(parent).catch(() => [])).toEqual([]);
    expect((await entries(tmp.dir)).filter((e) => !before.includes(e) && e !== "interrupted")).toEqual([]);
  });
});
