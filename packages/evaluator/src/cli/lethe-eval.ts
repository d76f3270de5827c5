/**
 * lethe-eval: the SemEval-2025 Task 4 score.
 *   lethe-eval score --forget PRED.jsonl --retain PRED.jsonl [--mia-member NLL.jsonl --mia-nonmember NLL.jsonl]
 *                    [--mmlu-accuracy X] [--no-pandas-quirk] --out eval.json
 *   lethe-eval run CHECKPOINT [--adapter URI] --forget FILE --retain FILE [--mia-member FILE --mia-nonmember FILE]
 *                  [--mmlu DIR] [--base URI] [--resume] --out eval.json
 */
import { runCli, UsageError } from "@lethe/core";
import { scoreCommand } from "./score-command.js";
import { RUN_USAGE, SCORE_USAGE, USAGE } from "./usage.js";
import { formatReport } from "./write-report.js";

const wantsHelp = (argv: string[]): boolean => argv.some((a) => a === "--help" || a === "-h");

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "score" || command === "run") {
    if (wantsHelp(rest)) {
      process.stdout.write(`${command === "score" ? SCORE_USAGE : RUN_USAGE}\n`);
      return 0;
    }
    // The model runtime (onnxruntime) is loaded only to run a model, not to score files.
    const report =
      command === "score"
        ? await scoreCommand(rest)
        : await (await import("./run-command.js")).runCommand(rest);
    process.stdout.write(`${formatReport(report)}\n`);
    return 0;
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown command ${command}`);
}

runCli("lethe-eval", USAGE, main, import.meta.url);
