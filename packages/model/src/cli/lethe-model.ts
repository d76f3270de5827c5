/**
 * lethe-model: create, run and sample decoder-only models.
 *   lethe-model init OUT ...            a seeded random tiny model with a trained tokenizer
 *   lethe-model forward CKPT ...        logits and residual stream to safetensors
 *   lethe-model generate CKPT ...       print a continuation
 */
import { runCli, UsageError } from "@lethe/core";
import { FORWARD_USAGE, runForward } from "./forward.js";
import { GENERATE_USAGE, runGenerate } from "./generate.js";
import { INIT_USAGE, runInit } from "./init.js";

const USAGE = `usage: lethe-model <command> [options]   (lethe-model <command> --help for details)

commands:
  init OUT --arch A ...                                 create a random tiny model (Hugging Face layout)
  forward CHECKPOINT --ids "1,2;3" --out F.safetensors  write logits and hidden states
  generate CHECKPOINT --prompt TEXT                     print a continuation

${INIT_USAGE}

${FORWARD_USAGE}

${GENERATE_USAGE}`;

const SUBCOMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  init: { run: runInit, usage: INIT_USAGE },
  forward: { run: runForward, usage: FORWARD_USAGE },
  generate: { run: runGenerate, usage: GENERATE_USAGE },
};

/** Dispatch to a subcommand; its usage mistakes print its own usage (exit 2). */
export async function main(
  argv: string[],
  stderr: { write(text: string): unknown } = process.stderr,
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === undefined) throw new UsageError("missing command");
  const sub = SUBCOMMANDS[command];
  if (!sub) throw new UsageError(`unknown command "${command}"`);
  try {
    return await sub.run(rest);
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (!usage) throw err;
    stderr.write(`lethe-model ${command}: ${(err as Error).message}\n${sub.usage}\n`);
    return 2;
  }
}

runCli("lethe-model", USAGE, main, import.meta.url);
