/**
 * `lethe-model generate CHECKPOINT --prompt TEXT [--max-new-tokens N]`: tokenize the prompt with the
 * checkpoint's tokenizer.json (no chat template unless --chat), generate (greedy unless --temperature) and print
 * the continuation.
 */
import { parseArgs } from "node:util";
import { openStore, UsageError } from "@lethe/core";
import { loadModel } from "../runtime/load.js";
import { applyChatTemplate, loadChatTemplate } from "../tokenizer/chat-template.js";
import { loadTokenizer } from "../tokenizer/load.js";
import { cliRuntimeOptions, RUNTIME_FLAGS, RUNTIME_OPTIONS } from "./runtime-flags.js";

export const GENERATE_USAGE = `usage: lethe-model generate CHECKPOINT --prompt TEXT [--max-new-tokens N] [--adapter URI]
                            [--temperature T] [--top-p P] [--seed S] [--no-cache] [--chat]
                            ${RUNTIME_FLAGS}

Tokenize TEXT with the checkpoint's tokenizer.json, generate up to N new tokens (default 32; greedy unless
--temperature > 0), stop at EOS, and print the decoded continuation (special tokens skipped).
With --chat, TEXT is a user message rendered through the checkpoint's chat template (tokenizer_config.json
chat_template or chat_template.jinja) with the generation prompt added, as apply_chat_template does.`;

function number(flag: string, value: string | undefined, check: (n: number) => boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || !check(n))
    throw new UsageError(`--${flag}: invalid value "${value}"`);
  return n;
}

export async function runGenerate(
  argv: string[],
  stdout: { write(text: string): unknown } = process.stdout,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      prompt: { type: "string" },
      "max-new-tokens": { type: "string" },
      adapter: { type: "string" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      "no-cache": { type: "boolean" },
      chat: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...RUNTIME_OPTIONS,
    },
  });
  if (values.help) {
    stdout.write(`${GENERATE_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("expected exactly one CHECKPOINT");
  if (values.prompt === undefined) throw new UsageError("--prompt is required");
  const maxNewTokens =
    number("max-new-tokens", values["max-new-tokens"], (n) => Number.isInteger(n) && n >= 0) ?? 32;
  const temperature = number("temperature", values.temperature, (n) => n >= 0);
  const topP = number("top-p", values["top-p"], (n) => n > 0 && n <= 1);
  const seed = number("seed", values.seed, (n) => Number.isInteger(n) && n >= 0);

  const uri = positionals[0]!;
  const model = await loadModel(uri, { ...cliRuntimeOptions(values), adapter: values.adapter ?? null });
  const tokenizer = await loadTokenizer(uri);
  let ids: number[];
  if (values.chat) {
    const chat = await loadChatTemplate(openStore(uri));
    if (!chat)
      throw new UsageError(
        `--chat: ${uri} has no chat template (tokenizer_config.json chat_template or chat_template.jinja)`,
      );
    // The template writes the special tokens itself, so none are added on encoding (as transformers does).
    const text = applyChatTemplate(chat, [{ role: "user", content: values.prompt }]);
    ids = tokenizer.encode(text, { addSpecialTokens: false });
  } else {
    ids = tokenizer.encode(values.prompt);
  }
  if (ids.length === 0) throw new UsageError("--prompt encodes to no tokens");
  const eos = new Set([...model.config.eosTokenIds, tokenizer.eosId]);
  const [out] = await model.generate([ids], {
    maxNewTokens,
    eosTokenIds: [...eos],
    useCache: !values["no-cache"],
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  stdout.write(`${tokenizer.decode(out!.tokens, { skipSpecialTokens: true })}\n`);
  return 0;
}
