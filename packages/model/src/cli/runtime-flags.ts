/** Flags shared by the running subcommands: execution provider, threads, f16 MatMuls. */
import { UsageError } from "@lethe/core";
import type { LoadModelOptions } from "../runtime/load.js";

export const RUNTIME_FLAGS = "[--threads N] [--execution-provider cpu] [--f16-matmul]";

export const RUNTIME_OPTIONS = {
  threads: { type: "string" },
  "execution-provider": { type: "string" },
  "f16-matmul": { type: "boolean" },
} as const;

export function cliRuntimeOptions(values: {
  threads?: string | undefined;
  "execution-provider"?: string | undefined;
  "f16-matmul"?: boolean | undefined;
}): LoadModelOptions {
  const out: LoadModelOptions = {};
  if (values.threads !== undefined) {
    const n = Number(values.threads);
    if (!/^\d+$/.test(values.threads) || n < 1)
      throw new UsageError(`--threads: expected a positive integer, got "${values.threads}"`);
    out.intraOpNumThreads = n;
  }
  if (values["execution-provider"] !== undefined) out.executionProviders = [values["execution-provider"]];
  if (values["f16-matmul"]) out.matmulDtype = "float16";
  return out;
}
