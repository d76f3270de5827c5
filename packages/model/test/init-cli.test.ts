import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpoint, UsageError, verifyCheckpoint } from "@lethe/core";
import { listRuns, readRun } from "@lethe/tracker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INIT_USAGE, runInit } from "../src/cli/init.js";
import { loadTokenizer } from "../src/tokenizer/load.js";

let root: string;
let textFile: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "lethe-init-cli-"));
  textFile = join(root, "corpus.txt");
  await writeFile(
    textFile,
    "Forget the facts, retain the skills. Facts about the author are forgotten.\n".repeat(40),
  );
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function capture() {
  const chunks: string[] = [];
  return { write: (t: string) => chunks.push(t), text: () => chunks.join("") };
}

const shape = ["--layers", "2", "--hidden", "16", "--heads", "4", "--intermediate", "32", "--seed", "5"];

describe("lethe-model init", () => {
  it("creates a verified checkpoint with the requested shape and dtype", async () => {
    const out = join(root, "olmo");
    const io = capture();
    const code = await runInit(
      [
        out,
        "--arch",
        "olmo",
        ...shape,
        "--kv-heads",
        "2",
        "--vocab-from",
        textFile,
        "--vocab-size",
        "300",
        "--dtype",
        "bf16",
        "--tie-embeddings",
        "--clip-qkv",
        "8",
      ],
      io,
    );
    expect(code).toBe(0);
    expect(io.text()).toMatch(/olmo 2x16, vocab \d+, \d+ parameters/);
    const ckpt = await openCheckpoint(out);
    expect(ckpt.config).toMatchObject({
      model_type: "olmo",
      num_hidden_layers: 2,
      hidden_size: 16,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 32,
      torch_dtype: "bfloat16",
      tie_word_embeddings: true,
      clip_qkv: 8,
    });
    const tok = await loadTokenizer(out);
    expect(ckpt.config?.["vocab_size"]).toBe(tok.vocabSize);
    expect((await verifyCheckpoint(out)).ok).toBe(true);
    ckpt.weights?.close();
  });

  it("records a tracker run by default: typed config, the corpus as input, the model as output", async () => {
    const runsDir = join(root, "runs");
    const saved = { dir: process.env["LETHE_RUNS_DIR"], tracker: process.env["LETHE_TRACKER"] };
    process.env["LETHE_RUNS_DIR"] = runsDir;
    delete process.env["LETHE_TRACKER"];
    try {
      const out = join(root, "tracked");
      expect(await runInit([out, "--arch", "llama", ...shape, "--vocab-from", textFile], capture())).toBe(0);
      const [record] = await listRuns(runsDir);
      const run = await readRun(record!.dir);
      expect(run.meta).toMatchObject({ job_type: "init", state: "finished", exit_code: 0 });
      expect(run.config).toMatchObject({ arch: "llama", layers: 2, hidden: 16, seed: 5, dtype: "f32" });
      expect(run.artifacts.map((a) => [a.uri, a.type, a.metadata["role"]])).toEqual([
        [textFile, "dataset", "input"],
        [`file://${out}`, "model", "output"],
      ]);
      expect(run.artifacts[1]!.metadata["parents"]).toEqual([textFile]);
    } finally {
      for (const [key, value] of [
        ["LETHE_RUNS_DIR", saved.dir],
        ["LETHE_TRACKER", saved.tracker],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it("prints the usage for --help", async () => {
    const io = capture();
    expect(await runInit(["--help"], io)).toBe(0);
    expect(io.text()).toBe(`${INIT_USAGE}\n`);
  });

  it("names the flag that is missing or wrong", async () => {
    const out = join(root, "bad");
    const base = [out, "--arch", "llama", ...shape, "--vocab-from", textFile];
    await expect(runInit(base.filter((a) => a !== "--arch" && a !== "llama"))).rejects.toThrow(
      new UsageError("--arch is required"),
    );
    await expect(runInit([...base.slice(0, 2), "gpt2", ...base.slice(3)])).rejects.toThrow(
      '--arch: expected one of llama, olmo, qwen2, got "gpt2"',
    );
    await expect(runInit([...base, "--dtype", "f16"])).rejects.toThrow(
      '--dtype: expected f32 or bf16, got "f16"',
    );
    await expect(runInit(base.map((a) => (a === "16" ? "sixteen" : a)))).rejects.toThrow(
      '--hidden: expected an integer >= 1, got "sixteen"',
    );
    await expect(runInit([...base, "--seed=-1"])).rejects.toThrow(
      '--seed: expected an integer >= 0, got "-1"',
    );
    await expect(runInit(base.slice(1))).rejects.toThrow("missing OUT (where to write the model)");
    await expect(runInit([...base, "--layer", "3"])).rejects.toThrow(/--layer/);
    await expect(runInit([...base.slice(0, -1), join(root, "nope.txt")])).rejects.toThrow(
      /--vocab-from .*nope\.txt/,
    );
  });
});
