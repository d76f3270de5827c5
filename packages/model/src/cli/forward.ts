/**
 * `lethe-model forward CHECKPOINT --ids "1,2,3;4,5,6" [--adapter URI] --out FILE.safetensors`: run the model
 * on rows of token ids and write `logits` [B, T, V] and `hidden.embed`, `hidden.layer.{i}` [B, T, D] (f32), plus
 * `attention_mask` [B, T] (I64). Rows of unequal length are left-padded; pad positions are masked out of
 * attention and written as zeros.
 */
import { parseArgs } from "node:util";
import { type NamedTensor, UsageError, writeSafetensorsFile } from "@lethe/core";
import { loadModel } from "../runtime/load.js";
import { cliRuntimeOptions, RUNTIME_FLAGS, RUNTIME_OPTIONS } from "./runtime-flags.js";

export const FORWARD_USAGE = `usage: lethe-model forward CHECKPOINT --ids "1,2,3;4,5,6" --out FILE.safetensors [--adapter URI]
                           ${RUNTIME_FLAGS}

Run CHECKPOINT (a path, file:// or s3:// URI in Hugging Face layout) on rows of token ids (rows separated by
";", ids by ",") and write a safetensors file: logits [B,T,V], hidden.embed and hidden.layer.{i} [B,T,D]
(the residual stream after each decoder layer, before the final norm), all f32, and attention_mask [B,T].
Rows of unequal length are left-padded; pad positions are masked out and written as zeros.`;

export function parseIds(text: string): number[][] {
  const rows = text.split(";").map((r) => r.trim());
  return rows.map((row, i) => {
    if (row === "") throw new UsageError(`--ids: row ${i} is empty`);
    return row.split(",").map((s) => {
      const v = s.trim();
      if (!/^\d+$/.test(v)) throw new UsageError(`--ids: row ${i}: "${v}" is not a token id`);
      return Number(v);
    });
  });
}

export async function runForward(
  argv: string[],
  stdout: { write(text: string): unknown } = process.stdout,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ids: { type: "string" },
      out: { type: "string" },
      adapter: { type: "string" },
      help: { type: "boolean", short: "h" },
      ...RUNTIME_OPTIONS,
    },
  });
  if (values.help) {
    stdout.write(`${FORWARD_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("expected exactly one CHECKPOINT");
  if (values.ids === undefined) throw new UsageError("--ids is required");
  if (values.out === undefined) throw new UsageError("--out is required");
  const rows = parseIds(values.ids);
  const model = await loadModel(positionals[0]!, {
    ...cliRuntimeOptions(values),
    adapter: values.adapter ?? null,
  });
  const r = await model.forward(rows, { hidden: true });
  const { batch, seq, mask } = r;
  const V = model.config.vocabSize;
  const D = model.config.hiddenSize;

  const zeroPads = (data: Float32Array, width: number) => {
    for (let k = 0; k < batch * seq; k++) if (mask[k] === 0) data.fill(0, k * width, (k + 1) * width);
    return data;
  };
  const tensors: NamedTensor[] = [
    { name: "logits", dtype: "F32", shape: [batch, seq, V], data: zeroPads(r.logits!, V) },
    {
      name: "attention_mask",
      dtype: "I64",
      shape: [batch, seq],
      data: BigInt64Array.from(mask, (m) => BigInt(m)),
    },
  ];
  for (const [name, data] of r.hidden!) {
    tensors.push({
      name: `hidden.${name}`,
      dtype: "F32",
      shape: [batch, seq, D],
      data: zeroPads(data, D),
    });
  }
  await writeSafetensorsFile(values.out, tensors, { format: "pt", checkpoint: positionals[0]! });
  stdout.write(
    `${values.out}: logits [${batch},${seq},${V}], ${r.hidden!.size} hidden states [${batch},${seq},${D}]\n`,
  );
  return 0;
}
