#!/usr/bin/env node
/**
 * Stands in for "another tool" (PEFT's `model.save_pretrained`) that trained two LoRA adapters on a model:
 * writes two PEFT adapter directories — `adapter_config.json` + `adapter_model.safetensors` with PEFT's tensor
 * names (`base_model.model.<module>.lora_A.weight` [r, in], `.lora_B.weight` [out, r]) — for the checkpoint
 * at BASE, on q_proj, v_proj and down_proj of every layer, rank 4. The factors are seeded random numbers
 * (B ≠ 0, as after training), written with @lethe/core's `writeSafetensorsFile`; the two adapters differ in
 * seed and in lora_alpha (8 and 4), so their scalings differ as two real runs' might.
 *
 *   node other-tool-adapters.mjs BASE OUT_DIR      (writes OUT_DIR/adapter-a and OUT_DIR/adapter-b)
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeSafetensorsFile } from "@lethe/core";

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  process.stderr.write("usage: node other-tool-adapters.mjs BASE OUT_DIR\n");
  process.exit(2);
}
const config = JSON.parse(await readFile(join(base, "config.json"), "utf8"));
const hidden = config.hidden_size;
const intermediate = config.intermediate_size;
const kvDim =
  (config.num_key_value_heads ?? config.num_attention_heads) * (hidden / config.num_attention_heads);
const rank = 4;
// [module, in features, out features]
const shapes = {
  "self_attn.q_proj": [hidden, hidden],
  "self_attn.v_proj": [hidden, kvDim],
  "mlp.down_proj": [intermediate, hidden],
};

/** A seeded uniform(-scale, scale) generator (xorshift32), so the same seed gives the same adapter. */
function random(seed) {
  let state = seed >>> 0 || 1;
  return (scale) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 4294967296 - 0.5) * 2 * scale;
  };
}

for (const [name, seed, alpha] of [
  ["adapter-a", 11, 8],
  ["adapter-b", 22, 4],
]) {
  const next = random(seed);
  const tensors = [];
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    for (const [module, [inFeatures, outFeatures]] of Object.entries(shapes)) {
      const prefix = `base_model.model.model.layers.${layer}.${module}`;
      const a = Float32Array.from({ length: rank * inFeatures }, () => next(1 / Math.sqrt(inFeatures)));
      const b = Float32Array.from({ length: outFeatures * rank }, () => next(0.05));
      tensors.push({ name: `${prefix}.lora_A.weight`, dtype: "F32", shape: [rank, inFeatures], data: a });
      tensors.push({ name: `${prefix}.lora_B.weight`, dtype: "F32", shape: [outFeatures, rank], data: b });
    }
  }
  const dir = join(outDir, name);
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  // What PEFT 0.13 writes for LoraConfig(r=4, lora_alpha=…, target_modules=[…]) (fields a loader needs).
  const adapterConfig = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: base,
    r: rank,
    lora_alpha: alpha,
    lora_dropout: 0.0,
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    inference_mode: true,
    target_modules: ["q_proj", "v_proj", "down_proj"],
  };
  await writeFile(join(dir, "adapter_config.json"), `${JSON.stringify(adapterConfig, null, 2)}\n`);
  process.stdout.write(`${dir}: ${tensors.length} tensors, r ${rank}, lora_alpha ${alpha}\n`);
}
