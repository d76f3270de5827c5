#!/usr/bin/env node
/**
 * Stands in for "another tool" that generated answers for the SemEval rows (vLLM, HF `generate`, an API):
 * writes prediction rows — the dataset row (`id, input, output, task`, `split`) plus `generation` — which is
 * all `lethe-eval score` reads. The "generations" here are the reference outputs with every k-th word dropped
 * (k = 3 on the forget split, k = 6 on retain), so the scores are known in advance: ROUGE-L recall ≈ 2/3 on
 * forget and ≈ 5/6 on retain, and exact-match knowledge is lost on rows whose answer has ≥ k words.
 *
 *   node other-tool-generations.mjs DATA_DIR OUT_DIR     (reads DATA_DIR/{forget,retain}.jsonl)
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const [dataDir, outDir] = process.argv.slice(2);
if (!dataDir || !outDir) {
  process.stderr.write("usage: node other-tool-generations.mjs DATA_DIR OUT_DIR\n");
  process.exit(2);
}
await mkdir(outDir, { recursive: true });

/** Drop words k, 2k, 3k, ... (1-based) of a text. */
const dropEvery = (text, k) =>
  text
    .split(/\s+/)
    .filter((word, i) => word !== "" && (i + 1) % k !== 0)
    .join(" ");

for (const [split, k] of [
  ["forget", 3],
  ["retain", 6],
]) {
  const lines = (await readFile(join(dataDir, `${split}.jsonl`), "utf8")).split("\n").filter(Boolean);
  const rows = lines.map((line) => {
    const row = JSON.parse(line);
    return { ...row, split, generation: dropEvery(row.output, k) };
  });
  await writeFile(join(outDir, `${split}.jsonl`), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  process.stdout.write(
    `${rows.length} ${split} generations (word k·n dropped, k = ${k}) → ${outDir}/${split}.jsonl\n`,
  );
}
