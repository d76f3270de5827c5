/**
 * `lethe-train grad`: the configured loss on the first batch (the first batch_size forget rows and the first
 * batch_size retain rows, unshuffled), without an update, written as safetensors for a parity check against
 * one's own PyTorch code: `loss`, `loss.<term>`, `grad.<parameter>` and `value.<parameter>` (PEFT or checkpoint
 * names: the values the gradient was taken at, e.g. the run's initial LoRA A), the batch as
 * used (`batch.{forget,retain}.{input_ids,attention_mask,labels}`), and for the RMU family `rmu.target`, `rmu.coeff`.
 */
import { type NamedTensor, writeSafetensorsFile } from "@lethe/core";
import type { SessionOptions } from "@lethe/model";
import type { TrainConfig } from "../config/schema.js";
import type { TrainBatch } from "../data/collate.js";
import { materialise, prepareTraining } from "../train.js";

export async function runGrad(config: TrainConfig, out: string, session: SessionOptions = {}): Promise<void> {
  // No update, no shuffling, no dropout: the loss and gradient a PyTorch model in eval mode computes.
  const unshuffled: TrainConfig = {
    ...config,
    data: { ...config.data, shuffle: false },
    params: { ...config.params, lora: { ...config.params.lora, dropout: 0 } },
  };
  const context = await prepareTraining(unshuffled, { session });
  const first = (n: number) => Array.from({ length: Math.min(config.batch_size, n) }, (_, i) => i);
  const forget = first(context.rows.forget.length);
  const mb = materialise(context, {
    forget,
    retain: first(context.rows.retain.length),
    topic: context.rows.forget[0]?.task,
  });
  context.params.zeroGrads();
  const result = await context.objective.accumulate(mb, 1);

  const tensors: NamedTensor[] = [scalar("loss", result.loss)];
  for (const [term, value] of Object.entries(result.terms)) tensors.push(scalar(`loss.${term}`, value));
  for (const p of context.params.params) {
    tensors.push({ name: `grad.${p.name}`, dtype: "F32", shape: p.shape, data: p.grad });
    tensors.push({ name: `value.${p.name}`, dtype: "F32", shape: p.shape, data: p.value });
  }
  if (mb.forget) tensors.push(...batchTensors("forget", mb.forget));
  if (mb.retain) tensors.push(...batchTensors("retain", mb.retain));
  if (result.rmuTarget) {
    tensors.push({
      name: "rmu.target",
      dtype: "F32",
      shape: [result.rmuTarget.length],
      data: result.rmuTarget,
    });
    tensors.push(scalar("rmu.coeff", result.rmu!.coeff));
  }
  await writeSafetensorsFile(out, tensors, { format: "pt", producer: "lethe-train grad" });
  process.stdout.write(
    `${out}: loss ${result.loss.toPrecision(6)} (${Object.entries(result.terms)
      .map(([k, v]) => `${k} ${v.toPrecision(6)}`)
      .join(", ")}), ${context.params.params.length} gradients\n`,
  );
}

function scalar(name: string, value: number): NamedTensor {
  return { name, dtype: "F32", shape: [], data: Float32Array.of(value) };
}

function batchTensors(side: string, b: TrainBatch): NamedTensor[] {
  const shape = [b.batch, b.seq];
  return [
    { name: `batch.${side}.input_ids`, dtype: "I64", shape, data: b.ids },
    {
      name: `batch.${side}.attention_mask`,
      dtype: "I64",
      shape,
      data: BigInt64Array.from(b.mask, (m) => BigInt(m)),
    },
    { name: `batch.${side}.labels`, dtype: "I64", shape, data: b.labels },
  ];
}
