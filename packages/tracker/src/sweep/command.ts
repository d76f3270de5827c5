// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
/**
 * The trial's command line, built the way W&B's agent builds it (`wandb/wandb_agent.py`, `_command_run`):
 * the sweep's `command` (default `${env} ${interpreter} ${program} ${args}`), where an item that is exactly a
 * macro expands to zero or more arguments, and `${envvar:NAME}` inside any item becomes that variable.
 *
 * Macros: `${env}` → /usr/bin/env; `${interpreter}` → `python` for a `.py` program, else this Node binary;
 * `${program}`; `${args}` → `--name=value` each; `${args_no_hyphens}` → `name=value`;
 * `${args_no_equals}` → `--name value`; `${args_no_boolean_flags}` → like `${args}` but `true` → `--name`
 * and `false` dropped; `${args_json}` → one JSON argument; `${args_json_file}` → the path of a JSON file
 * holding the same object.
 *
 * Differences from W&B: values are written as JSON (`true`, `[1,2]`, `{"a":1}`) rather than Python's `str()`
 * (`True`, `[1, 2]`); nested parameters arrive flattened to dotted names (`--opt.beta1=0.9`) rather than as
 * one dict-valued `--opt={...}`; an unknown whole-item macro is an error rather than silently dropped.
 */
import { FormatError } from "@lethe/core";

export const DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"];

const MACROS = new Set([
  "env",
  "interpreter",
  "program",
  "args",
  "args_no_hyphens",
  "args_no_equals",
  "args_no_boolean_flags",
  "args_json",
  "args_json_file",
]);

export function formatArgValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Fails early, at config load, on a `${macro}` item that the agent would not know. */
export function checkCommand(
  command: readonly (string | number | boolean)[],
  program: string | undefined,
  source: string,
): void {
  command.forEach((item, i) => {
    if (String(item) === "${program}" && program === undefined) {
      throw new FormatError(
        `${source}: command[${i}]: \${program} is used but the config has no \`program\``,
      );
    }
    const text = String(item);
    if (text.startsWith("${") && text.endsWith("}") && !text.startsWith("${envvar:")) {
      const name = text.slice(2, -1);
      if (!MACROS.has(name)) {
        throw new FormatError(
          `${source}: command[${i}]: unknown macro ${text}; known: ${[...MACROS].map((m) => `\${${m}}`).join(", ")}`,
        );
      }
    }
  });
}

export interface CommandContext {
  program: string | undefined;
  params: Record<string, unknown>;
  /** Path for `${args_json_file}`; the caller writes the file when `usesArgsJsonFile` says so. */
  argsJsonFile: string;
  env?: NodeJS.ProcessEnv;
  nodeExecutable?: string;
}

export function usesArgsJsonFile(command: readonly (string | number | boolean)[]): boolean {
  return command.some((item) => String(item) === "${args_json_file}");
}

export function expandCommand(
  command: readonly (string | number | boolean)[],
  ctx: CommandContext,
): string[] {
  const env = ctx.env ?? process.env;
  const entries = Object.entries(ctx.params);
  const expansions: Record<string, string[]> = {
    env: process.platform === "win32" ? [] : ["/usr/bin/env"],
    interpreter: [ctx.program?.endsWith(".py") ? "python" : (ctx.nodeExecutable ?? process.execPath)],
    program: ctx.program === undefined ? [] : [ctx.program],
    args: entries.map(([k, v]) => `--${k}=${formatArgValue(v)}`),
    args_no_hyphens: entries.map(([k, v]) => `${k}=${formatArgValue(v)}`),
    args_no_equals: entries.flatMap(([k, v]) => [`--${k}`, formatArgValue(v)]),
    args_no_boolean_flags: entries.flatMap(([k, v]) => {
      if (v === true) return [`--${k}`];
      if (v === false) return [];
      return [`--${k}=${formatArgValue(v)}`];
    }),
    args_json: [JSON.stringify(ctx.params)],
    args_json_file: [ctx.argsJsonFile],
  };
  const out: string[] = [];
  for (const item of command) {
    const text = String(item).replace(/\$\{envvar:([A-Z0-9_]*)\}/g, (_, name: string) => env[name] ?? name);
    if (text.startsWith("${") && text.endsWith("}")) {
      const expansion = expansions[text.slice(2, -1)];
      if (expansion) {
        out.push(...expansion);
        continue;
      }
    }
    out.push(text);
  }
  return out;
}
