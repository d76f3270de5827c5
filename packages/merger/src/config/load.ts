/** Reading a mergekit YAML file (or text) into a validated config, with command-line overrides applied. */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { applyOverrides, type Override } from "./overrides.js";
import { ConfigError, type MergeConfig, parseMergeConfig } from "./schema.js";

export interface LoadedConfig {
  config: MergeConfig;
  /** The YAML document after overrides: what gets written next to the merged model. */
  document: unknown;
}

export function configFromText(
  text: string,
  source: string,
  overrides: readonly Override[] = [],
): LoadedConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  const document = applyOverrides(doc, overrides);
  return { config: parseMergeConfig(document, source), document };
}

export async function loadConfigFile(
  path: string,
  overrides: readonly Override[] = [],
): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      `${path}: cannot read the config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return configFromText(text, path, overrides);
}
