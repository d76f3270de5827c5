import { FormatError, NotFoundError, openStore, type Store } from "@lethe/core";
import type { TokenizerFiles } from "./files.js";
import { LetheTokenizer } from "./tokenizer.js";

/**
 * Load the tokenizer of a checkpoint (or any directory/URI holding `tokenizer.json`, with
 * `tokenizer_config.json` beside it when there is one).
 */
export async function loadTokenizer(source: Store | string): Promise<LetheTokenizer> {
  const store = typeof source === "string" ? openStore(source) : source;
  const tokenizerJson = await readJsonFile(store, "tokenizer.json", true);
  const tokenizerConfig = await readJsonFile(store, "tokenizer_config.json", false);
  return LetheTokenizer.fromJson(tokenizerJson, tokenizerConfig ?? {}, store.uri);
}

/** A tokenizer straight from the files `trainByteLevelBpe` returns, without a store. */
export function tokenizerFromFiles(files: TokenizerFiles): LetheTokenizer {
  return LetheTokenizer.fromJson(files["tokenizer.json"], files["tokenizer_config.json"]);
}

/** Write the tokenizer files into a store (a checkpoint being written, or a directory). */
export async function writeTokenizerFiles(store: Store, files: TokenizerFiles): Promise<void> {
  for (const [key, value] of Object.entries(files)) {
    await store.put(key, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
  }
}

async function readJsonFile(store: Store, key: string, required: boolean): Promise<unknown> {
  if (!(await store.head(key))) {
    if (required) throw new NotFoundError(`${store.uri}/${key}: not found`);
    return null;
  }
  const text = new TextDecoder().decode(await store.get(key));
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(`${store.uri}/${key}: not valid JSON (${(err as Error).message})`);
  }
}
