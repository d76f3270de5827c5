#!/usr/bin/env node
/**
 * The mini task set: from each split of a `lethe-data synth` dataset, QA rows and sentence-completion rows of
 * every task, the completions cut to a short prompt tail and a short continuation so that a 4-layer model can
 * memorise them in a few CPU-minutes. Same rows for the same dataset and flags.
 *   node subset.mjs DATA_DIR OUT_DIR [--qa N] [--sc N] [--sc-prompt CHARS] [--sc-output CHARS]
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const [dataDir, outDir, ...flags] = process.argv.slice(2);
if (!dataDir || !outDir) {
  process.stderr.write(
    "usage: subset.mjs DATA_DIR OUT_DIR [--qa N] [--sc N] [--sc-prompt CHARS] [--sc-output CHARS]\n",
  );
  process.exit(2);
}
const opt = { qa: 6, sc: 4, "sc-prompt": 100, "sc-output": 48 };
for (let i = 0; i < flags.length; i += 2) {
  const name = flags[i]?.replace(/^--/, "");
  if (!(name in opt) || !Number.isInteger(Number(flags[i + 1]))) {
    process.stderr.write(`subset.mjs: bad flag ${flags[i]} ${flags[i + 1] ?? ""}\n`);
    process.exit(2);
  }
  opt[name] = Number(flags[i + 1]);
}

/** The last `n` characters of `text`, starting at a word. */
const tail = (text, n) => (text.length <= n ? text : text.slice(text.indexOf(" ", text.length - n) + 1));
/** The first `n` characters of `text`, ending at a word. */
const head = (text, n) => {
  if (text.length <= n) return text;
  const cut = text.lastIndexOf(" ", n);
  return text.slice(0, cut > 0 ? cut : n);
};

await mkdir(outDir, { recursive: true });
for (const split of ["forget", "retain"]) {
  const rows = (await readFile(join(dataDir, `${split}.jsonl`), "utf8"))
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  const out = [];
  for (const task of ["Task1", "Task2", "Task3"]) {
    const ofTask = rows.filter((r) => r.task === task);
    const qa = ofTask.filter((r) => /qa\d+$/.test(r.id)).slice(0, opt.qa);
    const sc = ofTask.filter((r) => /sc\d+$/.test(r.id)).slice(0, opt.sc);
    out.push(...qa);
    for (const r of sc)
      out.push({ ...r, input: tail(r.input, opt["sc-prompt"]), output: head(r.output, opt["sc-output"]) });
  }
  await writeFile(join(outDir, `${split}.jsonl`), `${out.map((r) => JSON.stringify(r)).join("\n")}\n`);
  process.stdout.write(`${split}: ${out.length} rows\n`);
}
