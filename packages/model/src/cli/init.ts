import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { UsageError } from "@lethe/core";
import { recordInputs, recordOutput, startStageRun } from "@lethe/tracker";
import { TINY_ARCHS, type TinyArch } from "../init/architecture.js";
import { createTinyModel } from "../init/create.js";

export const INIT_USAGE = `usage: lethe-model init OUT --arch llama|olmo|qwen2 --layers N --hidden D --heads H [--kv-heads K]
                        --intermediate F --vocab-from TEXTFILE [--vocab-size V] --seed S
                        [--dtype f32|bf16] [--tie-embeddings] [--rope-theta T] [--clip-qkv C]
                        [--max-position-embeddings P]

Create a randomly initialised model in Hugging Face layout at OUT (a path, file:// or s3:// URI):
config.json, generation_config.json, model.safetensors and a byte-level BPE tokenizer trained on
TEXTFILE, published as a Lethe checkpoint (stage "init"). Weights are N(0, 0.02) from a seeded generator.

  --arch                      llama, olmo or qwen2
  --layers, --hidden, --heads, --intermediate   model shape (hidden must be a multiple of heads)
  --kv-heads                  key/value heads for grouped-query attention (default: --heads)
  --vocab-from                UTF-8 text file to train the tokenizer on
  --vocab-size                tokenizer vocabulary size, specials and 256 bytes included (default 512)
  --seed                      non-negative integer; the same seed gives the same bytes
  --dtype                     f32 (default) or bf16
  --tie-embeddings            share the input embedding with the LM head
  --rope-theta                RoPE base (default 10000)
  --clip-qkv                  OLMo only: clamp q, k, v to [-C, C]
  --max-position-embeddings   default 2048`;

const OPTIONS = {
  arch: { type: "string" },
  layers: { type: "string" },
  hidden: { type: "string" },
  heads: { type: "string" },
  "kv-heads": { type: "string" },
  intermediate: { type: "string" },
  "vocab-from": { type: "string" },
  "vocab-size": { type: "string" },
  seed: { type: "string" },
  dtype: { type: "string" },
  "tie-embeddings": { type: "boolean" },
  "rope-theta": { type: "string" },
  "clip-qkv": { type: "string" },
  "max-position-embeddings": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function integer(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${flag}: expected an integer >= ${min}, got "${value}"`);
  }
  return n;
}

function positive(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`--${flag}: expected a positive number, got "${value}"`);
  return n;
}

function required<T>(flag: string, value: T | undefined): T {
  if (value === undefined) throw new UsageError(`--${flag} is required`);
  return value;
}

/**
 * `lethe-model init …`; `argv` holds the arguments after the `init` subcommand. Returns the exit code; bad
 * usage throws `UsageError` (the dispatcher prints it with the usage and exits 2).
 */
export async function runInit(
  argv: string[],
  stdout: { write(text: string): unknown } = process.stdout,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    stdout.write(`${INIT_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "missing OUT (where to write the model)"
        : `expected one OUT, got ${positionals.join(" ")}`,
    );
  }
  const out = positionals[0]!;
  const arch = required("arch", values.arch);
  if (!TINY_ARCHS.includes(arch as TinyArch))
    throw new UsageError(`--arch: expected one of ${TINY_ARCHS.join(", ")}, got "${arch}"`);
  const dtypeFlag = (values.dtype ?? "f32").toLowerCase();
  if (dtypeFlag !== "f32" && dtypeFlag !== "bf16")
    throw new UsageError(`--dtype: expected f32 or bf16, got "${values.dtype}"`);
  const vocabFrom = required("vocab-from", values["vocab-from"]);
  const layers = required("layers", integer("layers", values.layers, 1));
  const hidden = required("hidden", integer("hidden", values.hidden, 1));
  const heads = required("heads", integer("heads", values.heads, 1));
  const intermediate = required("intermediate", integer("intermediate", values.intermediate, 1));
  const seed = required("seed", integer("seed", values.seed, 0));
  const kvHeads = integer("kv-heads", values["kv-heads"], 1);
  const vocabSize = integer("vocab-size", values["vocab-size"], 1);
  const maxPositionEmbeddings = integer("max-position-embeddings", values["max-position-embeddings"], 1);
  const ropeTheta = positive("rope-theta", values["rope-theta"]);
  const clipQkv = positive("clip-qkv", values["clip-qkv"]);

  const run = await startStageRun(
    "init",
    {
      out,
      arch,
      layers,
      hidden,
      heads,
      kv_heads: kvHeads ?? heads,
      intermediate,
      vocab_from: vocabFrom,
      vocab_size: vocabSize ?? null,
      seed,
      dtype: dtypeFlag,
      tie_embeddings: values["tie-embeddings"] ?? false,
      rope_theta: ropeTheta ?? null,
      clip_qkv: clipQkv ?? null,
      max_position_embeddings: maxPositionEmbeddings ?? null,
    },
    out,
  );
  recordInputs(run, [{ uri: vocabFrom, type: "dataset" }]);
  let model: Awaited<ReturnType<typeof createTinyModel>>;
  try {
    model = await createModel(out, vocabFrom, {
      arch: arch as TinyArch,
      layers,
      hidden,
      heads,
      intermediate,
      seed,
      dtype: dtypeFlag === "bf16" ? "BF16" : "F32",
      tieEmbeddings: values["tie-embeddings"] ?? false,
      ...(kvHeads !== undefined ? { kvHeads } : {}),
      ...(vocabSize !== undefined ? { vocabSize } : {}),
      ...(maxPositionEmbeddings !== undefined ? { maxPositionEmbeddings } : {}),
      ...(ropeTheta !== undefined ? { ropeTheta } : {}),
      ...(clipQkv !== undefined ? { clipQkv } : {}),
    });
    const params = model.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    run.summary({ parameters: params, vocab_size: model.vocabSize });
    recordOutput(run, { uri: model.uri }, [vocabFrom], { manifest: model.manifest.id });
  } catch (err) {
    await run.finish(1);
    throw err;
  }
  await run.finish(0);
  const params = model.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  stdout.write(
    `${model.uri}: ${arch} ${layers}x${hidden}, vocab ${model.vocabSize}, ${params} parameters (manifest ${model.manifest.id})\n`,
  );
  return 0;
}

async function createModel(
  out: string,
  vocabFrom: string,
  options: Omit<Parameters<typeof createTinyModel>[1], "vocabFrom">,
): ReturnType<typeof createTinyModel> {
  let text: string;
  try {
    text = await readFile(vocabFrom, "utf8");
  } catch (err) {
    throw new Error(`--vocab-from ${vocabFrom}: ${(err as Error).message}`);
  }
  return createTinyModel(out, { ...options, vocabFrom: text });
}
