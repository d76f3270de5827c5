import { type SpawnOptions, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

/** Path of a package's bin shim; the package must be built (`pnpm build`, which `pnpm test` runs first). */
export function binPath(pkg: string, name: string): string {
  const shim = path.join(REPO_ROOT, "packages", pkg, "bin", `${name}.js`);
  const built = path.join(REPO_ROOT, "packages", pkg, "dist", "cli", `${name}.js`);
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`pnpm build\` before the CLI tests`);
  return shim;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runBin(
  pkg: string,
  name: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath(pkg, name), ...args], {
      ...options,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
