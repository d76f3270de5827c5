/**
 * lethe-eval: the SemEval-2025 Task 4 score.
 *   lethe-eval score --forget PRED.jsonl --retain PRED.jsonl [--mia-member NLL.jsonl --mia-nonmember NLL.jsonl]
 *                    [--mmlu-accuracy X] [--no-pandas-quirk] --out eval.json
 *   lethe-eval run CHECKPOINT [--adapter URI] --forget FILE --retain FILE [--mia-member FILE --mia-nonmember FILE]
 *                  [--mmlu DIR] [--base URI] --out eval.json
 */
import { runCli, UsageError } from "@lethe/core";
import { scoreCommand } from "./score-command.js";
import { argvConfig, trackReport } from "./track.js";
import { formatReport } from "./write-report.js";

const USAGE = `usage:
  lethe-eval score --forget PRED --retain PRED [--mia-member NLL --mia-nonmember NLL]
                   [--mmlu-accuracy X] [--no-pandas-quirk] --out eval.json
      score generations made by any system. PRED rows are the dataset rows plus "generation";
      NLL rows are {"id", "nll"} (mean token NLL of each MIA document).
  lethe-eval run CHECKPOINT [--adapter URI] --forget FILE --retain FILE
                 [--mia-member FILE --mia-nonmember FILE] [--mmlu DIR] [--base URI]
                 [--max-new-tokens N] [--batch-size N] [--ntrain K] [--predictions DIR] --out eval.json
      generate with a checkpoint (greedy, no chat template), compute MIA NLLs and MMLU, score, and
      (with --base) compare every decoder layer against the base checkpoint.

Every evaluation is recorded as a tracker run (LETHE_TRACKER=local|wandb|none, default local under
LETHE_RUNS_DIR or ./runs): scores as summary values, layer-wise numbers as tables.

--no-pandas-quirk  score the texts as given; by default empty or NA-like texts ("", "None", "NA", ...)
                   are scored as "nan", as the official script's CSV round trip does.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "score") {
    const report = await scoreCommand(rest);
    process.stdout.write(`${formatReport(report)}\n`);
    await trackReport("eval", argvConfig(command, rest), report);
    return 0;
  }
  if (command === "run") {
    // Loaded only here: the model runtime (onnxruntime) is not needed to score files.
    const { runCommand } = await import("./run-command.js");
    const report = await runCommand(rest);
    process.stdout.write(`${formatReport(report)}\n`);
    await trackReport("eval", argvConfig(command, rest), report);
    return 0;
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown command ${command}`);
}

runCli("lethe-eval", USAGE, main, import.meta.url);
