/**
 * Shared by the TIES and RMU sweep trials: run one stage CLI that writes a checkpoint, score the
 * checkpoint with `lethe-eval run`, and log the scores into this trial's run (the run the sweep
 * controller created: `startRun` joins it through WANDB_RUN_ID). Summary keys follow the evaluator's
 * (`eval/final`, `eval/forget/<task>/<metric>`, ...), which the dashboard's forget-vs-retain view reads.
 *
 * Arguments arrive as the sweep's `--name=value` flags and are split by prefix:
 *   --eval.<flag>=v   → `lethe-eval run CKPT --<flag> v`  (forget, retain, mia-member, mia-nonmember, mmlu, base)
 *   --out_root=DIR    → where trial checkpoints go (default checkpoints/sweeps), one directory per run
 *                       (a path, file:// or s3:// URI)
 *   --eval_root=DIR   → where each trial's eval.json goes, as <run id>.json (default: <out_root>/<run id>/eval.json,
 *                       which needs a local out_root)
 *   everything else   → the stage, as given, except that `--flag=true` becomes `--flag` and
 *                       `--flag=false` is dropped (W&B's ${args} writes booleans as values)
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startRun } from "@lethe/tracker";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** A Lethe CLI: from node_modules/.bin when linked, else the workspace package's bin. */
export function cli(pkg, name) {
  return [process.execPath, join(REPO, "packages", pkg, "bin", `${name}.js`)];
}

export function splitArgs(argv) {
  const evalFlags = [];
  const stage = [];
  let outRoot = "checkpoints/sweeps";
  let evalRoot = null;
  for (const arg of argv) {
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    const [, name, value] = m ?? [];
    if (name?.startsWith("eval.")) evalFlags.push(`--${name.slice(5)}`, value);
    else if (name === "out_root") outRoot = value;
    else if (name === "eval_root") evalRoot = value;
    else if (value === "true") stage.push(`--${name}`);
    else if (value !== "false") stage.push(arg);
  }
  return { evalFlags, stage, outRoot, evalRoot };
}

/**
 * The stages record runs of their own, in the trial's group: they must not reopen the trial's run, which
 * this program holds open (two writers of one run directory overwrite each other's artifacts).
 */
function stageEnv(group) {
  const env = { ...process.env };
  for (const key of [
    "WANDB_RUN_ID",
    "WANDB_RESUME",
    "WANDB_NAME",
    "WANDB_SWEEP_ID",
    "WANDB_SWEEP_PARAM_PATH",
  ])
    delete env[key];
  if (group) env.WANDB_RUN_GROUP = group;
  return env;
}

function run(argv, group) {
  process.stderr.write(`$ ${argv.join(" ")}\n`);
  return new Promise((resolveRun, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["ignore", "inherit", "inherit"],
      env: stageEnv(group),
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${argv[1] ?? argv[0]} exited with ${code ?? signal}`));
    });
  });
}

/** Flattens eval.json the way the evaluator's `reportSummary` does. */
export function evalSummary(report) {
  const out = {};
  for (const key of ["task_aggregate", "mia_auc", "mia_score", "mmlu", "final"])
    out[`eval/${key}`] = report[key];
  for (const split of ["forget", "retain"]) {
    for (const [task, cell] of Object.entries(report[split] ?? {})) {
      out[`eval/${split}/${task}/regurgitation`] = cell.regurgitation;
      out[`eval/${split}/${task}/knowledge`] = cell.knowledge;
    }
  }
  return out;
}

/**
 * `makeStageArgv(checkpointDir, stageArgs)` builds the stage's command line; `parents` names the
 * checkpoints the stage read (for the lineage view); `evaluated(checkpointDir)` is what `lethe-eval run` scores
 * (default: the checkpoint itself; `lethe-train` writes its result to <dir>/final).
 */
export async function stageThenEval({ name, makeStageArgv, parents = [], evaluated = (c) => c }) {
  const { evalFlags, stage, outRoot, evalRoot } = splitArgs(process.argv.slice(2));
  // Named as the sweep names the trial (its run id unless WANDB_NAME), not after this program.
  const runLog = await startRun({ project: "lethe", job_type: "sweep-trial" });
  const checkpoint = /^[a-z0-9]+:\/\//.test(outRoot)
    ? `${outRoot.replace(/\/$/, "")}/${runLog.id}`
    : resolve(outRoot, runLog.id);
  const group = runLog.info.group;
  await run(makeStageArgv(checkpoint, stage), group);
  // What to score: the checkpoint (or a path in it), or `[base, "--adapter", adapter]` for an adapter.
  const scored = evaluated(checkpoint);
  const scoredArgs = Array.isArray(scored) ? scored : [scored];
  runLog.artifact(name, "checkpoint", Array.isArray(scored) ? checkpoint : scored, { parents });
  const evalJson = evalRoot ? join(resolve(evalRoot), `${runLog.id}.json`) : join(checkpoint, "eval.json");
  await run(
    [...cli("evaluator", "lethe-eval"), "run", ...scoredArgs, ...evalFlags, "--out", evalJson],
    group,
  );
  const summary = evalSummary(JSON.parse(await readFile(evalJson, "utf8")));
  runLog.summary(summary);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  await runLog.finish();
}
