/// <reference path="./webassembly.d.ts" />
/**
 * Compiling a package's WebAssembly kernel from its built file (`pnpm build` writes them to dist/wasm), once per
 * process, with an error that says how to build it when the file is missing.
 */
import { readFileSync } from "node:fs";

const compiled = new Map<string, WebAssembly.Module>();

export function compileWasmFile(file: URL, what: string): WebAssembly.Module {
  let module = compiled.get(file.href);
  if (module) return module;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(
      `${what} ${file.pathname} is missing: build it with \`pnpm build\` (${(err as Error).message})`,
    );
  }
  module = new WebAssembly.Module(bytes);
  compiled.set(file.href, module);
  return module;
}
