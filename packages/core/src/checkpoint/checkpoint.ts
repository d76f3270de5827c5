/**
 * Opening a checkpoint: Hugging Face layout (config.json, weights, tokenizer files), optionally a PEFT LoRA
 * adapter, plus the Lethe manifest. A checkpoint from another tool (no manifest) is readable but flagged
 * unverified; a prefix whose publication is in progress or was interrupted is refused.
 */
import { FormatError, NotFoundError } from "../errors.js";
import { joinSource } from "../safetensors/reader.js";
import {
  ADAPTER_WEIGHTS_FILE,
  WEIGHTS_FILE,
  WEIGHTS_INDEX_FILE,
  WeightsReader,
} from "../safetensors/sharded.js";
import { describeLease } from "../store/lease.js";
import { PUBLISHING_MARKER } from "../store/markers.js";
import { openStore, type StoreOptions } from "../store/open.js";
import type { Store } from "../store/types.js";
import { MANIFEST_FILE, type Manifest, parseManifest } from "./manifest.js";

export const CONFIG_FILE = "config.json";
export const ADAPTER_CONFIG_FILE = "adapter_config.json";

/** Files copied along with weights when a stage writes a model derived from another. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.model",
  "added_tokens.json",
  "vocab.json",
  "merges.txt",
  "chat_template.jinja",
  "generation_config.json",
] as const;

export type JsonObject = Record<string, unknown>;

export interface Adapter {
  config: JsonObject;
  weights: WeightsReader;
}

export interface Checkpoint {
  uri: string;
  store: Store;
  manifest: Manifest | null;
  /** True when there is no manifest: the files cannot be checked against anything. */
  unverified: boolean;
  config: JsonObject | null;
  weights: WeightsReader | null;
  adapter: Adapter | null;
}

export async function readJson(store: Store, key: string): Promise<JsonObject | null> {
  if (!(await store.head(key))) return null;
  const source = joinSource(store.uri, key);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(await store.get(key)));
  } catch (err) {
    throw new FormatError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FormatError(`${source}: expected a JSON object`);
  }
  return value as JsonObject;
}

/** Why a prefix with a publishing marker and no manifest holds no checkpoint, and what to do about it. */
async function describeUnpublished(store: Store): Promise<string> {
  const lease = await store.publicationLease?.();
  const head = `${store.uri}: no checkpoint (${PUBLISHING_MARKER} is present without ${MANIFEST_FILE})`;
  if (!lease) return `${head}: a publication is in progress or was interrupted`;
  if (!lease.stale) return `${head}: a publication is in progress; ${describeLease(store.uri, lease)}`;
  return (
    `${head}: the publication was interrupted; ${describeLease(store.uri, lease)}. The next publication ` +
    `here takes it over, or remove what it left with: lethe-ckpt cleanup ${store.uri}`
  );
}

export async function openCheckpoint(uri: string, options: StoreOptions = {}): Promise<Checkpoint> {
  const store = openStore(uri, options);
  const manifestInfo = await store.head(MANIFEST_FILE);
  let manifest: Manifest | null = null;
  if (manifestInfo) {
    manifest = parseManifest(await store.get(MANIFEST_FILE), joinSource(store.uri, MANIFEST_FILE));
  } else if (await store.head(PUBLISHING_MARKER)) {
    throw new NotFoundError(await describeUnpublished(store));
  }
  const config = await readJson(store, CONFIG_FILE);
  const adapterConfig = await readJson(store, ADAPTER_CONFIG_FILE);
  const hasWeights =
    (await store.head(WEIGHTS_INDEX_FILE)) !== null || (await store.head(WEIGHTS_FILE)) !== null;
  if (!manifest && !config && !adapterConfig && !hasWeights) {
    throw new NotFoundError(
      `${store.uri}: no checkpoint (none of ${MANIFEST_FILE}, ${CONFIG_FILE}, ${ADAPTER_CONFIG_FILE}, ${WEIGHTS_FILE})`,
    );
  }
  const weights = hasWeights ? await WeightsReader.open(store) : null;
  let adapter: Adapter | null = null;
  if (adapterConfig) {
    if (!(await store.head(ADAPTER_WEIGHTS_FILE))) {
      throw new NotFoundError(`${store.uri}: ${ADAPTER_CONFIG_FILE} without ${ADAPTER_WEIGHTS_FILE}`);
    }
    adapter = {
      config: adapterConfig,
      weights: await WeightsReader.open(store, { file: ADAPTER_WEIGHTS_FILE }),
    };
  }
  return { uri: store.uri, store, manifest, unverified: manifest === null, config, weights, adapter };
}
