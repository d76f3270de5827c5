#!/usr/bin/env node
/**
 * The last step of run.sh: picks the best Adaptive RMU trial (highest final score, as the sweep's metric),
 * writes OUT/results.json (model name → its eval.json) and prints one comparison table.
 *   node table.mjs OUT_DIR STORE
 */
import { copyFile, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const [out, store] = process.argv.slice(2);
const read = async (file) => JSON.parse(await readFile(file, "utf8"));

const trials = [];
for (const file of (await readdir(join(out, "rmu-eval"))).filter((f) => f.endsWith(".json")).sort()) {
  const id = file.replace(/\.json$/, "");
  trials.push({ id, report: await read(join(out, "rmu-eval", file)), layer: await trialLayer(id) });
}
if (trials.length === 0) throw new Error(`no RMU trial evaluations under ${join(out, "rmu-eval")}`);
const best = trials.reduce((a, b) => ((b.report.final ?? -1) > (a.report.final ?? -1) ? b : a));
await copyFile(join(out, "rmu-eval", `${best.id}.json`), join(out, "eval", "adaptive-rmu.json"));

const names = ["memorised", "zju-over", "zju-under", "ties-factorwise", "ties-delta", "adaptive-rmu"];
const results = {};
for (const name of names) results[name] = await read(join(out, "eval", `${name}.json`));
await writeFile(join(out, "results.json"), `${JSON.stringify(results, null, 2)}\n`);

/** The hook layer a trial ran with, from its tracked run's config (null when the run is not found). */
async function trialLayer(id) {
  const runs = process.env.LETHE_RUNS_DIR ?? "runs";
  for (const candidate of [join(runs, id, "config.json"), join(runs, id, "run.json")]) {
    try {
      const config = await read(candidate);
      const layer = config.layer ?? config.config?.layer;
      if (layer !== undefined) return typeof layer === "object" ? layer.value : layer;
    } catch {}
  }
  return null;
}

const f = (x) => (x === null || x === undefined ? "  -  " : x.toFixed(2).padStart(5));
const cell = (r, split, task, m) => f(r[split]?.[task]?.[m]);
const tasks = ["Task1", "Task2", "Task3"];
const cols = [];
for (const split of ["forget", "retain"])
  for (const t of tasks)
    cols.push([`${split[0].toUpperCase()}${t.slice(4)}r`, `${split[0].toUpperCase()}${t.slice(4)}k`]);
/** The mean of the six forget (or retain) numbers: what "forgets more" and "keeps retain" are read on. */
const mean = (r, split) => {
  const xs = [];
  for (const t of tasks) for (const m of ["regurgitation", "knowledge"]) xs.push(r[split]?.[t]?.[m]);
  return xs.every((x) => typeof x === "number") ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
};
const header = [
  "model".padEnd(16),
  "  fgt",
  "  ret",
  "  agg",
  ...cols.flat().map((c) => c.padStart(5)),
  "  MIA",
  " MMLU",
  "final",
];
console.log(header.join(" "));
for (const name of names) {
  const r = results[name];
  const twelve = [];
  for (const split of ["forget", "retain"])
    for (const t of tasks) twelve.push(cell(r, split, t, "regurgitation"), cell(r, split, t, "knowledge"));
  console.log(
    [
      name.padEnd(16),
      f(mean(r, "forget")),
      f(mean(r, "retain")),
      f(r.task_aggregate),
      ...twelve,
      f(r.mia_score),
      f(r.mmlu),
      f(r.final),
    ].join(" "),
  );
}
console.log(
  "\nfgt/ret: mean of the six forget/retain numbers; agg: task aggregate (harmonic mean of 1 − forget and retain scores); F/R = forget/retain, 1–3 = Task1–3," +
    "\nr = regurgitation (ROUGE-L recall, sentence completions), k = knowledge (exact match, questions);" +
    "\nMIA: the MIA score (1 − 2·|AUC − 0.5|), MMLU: MC accuracy; final = mean of agg, MIA and MMLU.",
);
console.log(
  `adaptive-rmu: the best of ${trials.length} sweep trials, ${best.id}` +
    (best.layer === null ? "" : ` (hook layer ${best.layer})`) +
    ` — every trial: ${trials.map((t) => `${t.layer ?? t.id} ${f(t.report.final).trim()}`).join(", ")}`,
);
console.log(`results.json: ${join(out, "results.json")} (checkpoints under ${store})`);
