import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errorMessage } from "../errors.js";

/** A mistake in how the command was called: exit code 2 and the usage text. */
export class UsageError extends Error {}

/**
 * Run `main` when the module is the process entry (directly or through a bin shim that imports it),
 * mapping errors to exit codes: 2 for usage, 1 for everything else, with the message on stderr.
 */
export function runCli(
  name: string,
  usage: string,
  main: (argv: string[]) => Promise<number>,
  moduleUrl: string,
): void {
  if (!isEntry(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const usageError =
        err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
      process.stderr.write(`${name}: ${errorMessage(err)}\n${usageError ? `${usage}\n` : ""}`);
      process.exitCode = usageError ? 2 : 1;
    },
  );
}

function isEntry(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    const script = realpathSync(entry);
    const self = realpathSync(fileURLToPath(moduleUrl));
    // A bin shim (bin/x.js) imports dist/cli/x.js: treat the shim as the entry too.
    return script === self || process.env["LETHE_CLI_ENTRY"] === moduleUrl || isShimFor(script, self);
  } catch {
    return false;
  }
}

function isShimFor(script: string, self: string): boolean {
  const base = (p: string): string =>
    p
      .replace(/\\/g, "/")
      .split("/")
      .pop()!
      .replace(/\.(js|ts)$/, "");
  return script.replace(/\\/g, "/").includes("/bin/") && base(script) === base(self);
}
