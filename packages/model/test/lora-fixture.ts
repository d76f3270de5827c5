/** A random LoRA adapter in PEFT's on-disk form, plus the same modules in the reference forward's form. */
import { type Tensor, tensorFromFloat32 } from "@lethe/core";
import { type LayerLinear, linearShapes } from "../src/arch/common.js";
import { parseConfig } from "../src/config.js";
import { type LoraAdapter, loadAdapter } from "../src/lora/peft.js";
import { MemoryTensorSource } from "../src/runtime/weights.js";
import type { LoraModule as RefModule } from "./reference/forward64.js";

export interface LoraFixture {
  adapterConfig: Record<string, unknown>;
  tensors: Map<string, Tensor>;
  adapter: LoraAdapter;
  reference: { scaling: number; modules: Map<string, RefModule> };
}

export function loraFixtureTensors(
  config: Record<string, unknown>,
  targets: LayerLinear[],
  rank: number,
  gaussian: () => number,
  alpha = 16,
): Omit<LoraFixture, "adapter"> {
  const model = parseConfig(config);
  const shapes = linearShapes(model);
  const tensors = new Map<string, Tensor>();
  const modules = new Map<string, RefModule>();
  for (let l = 0; l < model.numLayers; l++) {
    for (const t of targets) {
      const [outF, inF] = shapes[t];
      const module = `model.layers.${l}.${t}`;
      // B is non-zero (a trained adapter), so the LoRA path changes the output.
      const A = Float64Array.from({ length: rank * inF }, () => 0.3 * gaussian());
      const B = Float64Array.from({ length: outF * rank }, () => 0.3 * gaussian());
      tensors.set(
        `base_model.model.${module}.lora_A.weight`,
        tensorFromFloat32(Float32Array.from(A), [rank, inF], "F32"),
      );
      tensors.set(
        `base_model.model.${module}.lora_B.weight`,
        tensorFromFloat32(Float32Array.from(B), [outF, rank], "F32"),
      );
      modules.set(module, {
        A: Float64Array.from(Float32Array.from(A)),
        B: Float64Array.from(Float32Array.from(B)),
      });
    }
  }
  const adapterConfig = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    r: rank,
    lora_alpha: alpha,
    lora_dropout: 0.05,
    target_modules: targets.map((t) => t.split(".")[1]),
    bias: "none",
    fan_in_fan_out: false,
  };
  return { adapterConfig, tensors, reference: { scaling: alpha / rank, modules } };
}

export async function loraFixture(
  config: Record<string, unknown>,
  targets: LayerLinear[],
  rank: number,
  gaussian: () => number,
): Promise<LoraFixture> {
  const f = loraFixtureTensors(config, targets, rank, gaussian);
  const adapter = await loadAdapter(
    new MemoryTensorSource(f.tensors),
    f.adapterConfig,
    parseConfig(config),
    "fixture",
  );
  return { ...f, adapter };
}
