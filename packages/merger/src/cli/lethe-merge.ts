/**
 * lethe-merge CONFIG.yml OUT_URI [options] [--<config.path>=<value> ...]
 *
 * Merge the models of a mergekit YAML config and publish the result at OUT_URI (a path, file:// or
 * s3:// URI). Any config field can be overridden as --<dotted.path>=<value>, which is how a W&B sweep
 * agent passes parameters (--models.1.parameters.density=0.6).
 */
import { checkDestination, progressBar, runCli, UsageError } from "@lethe/core";
import { progressLogger, recordInputs, startStageRun } from "@lethe/tracker";
import { loadConfigFile } from "../config/load.js";
import type { Override } from "../config/overrides.js";
import { TOP_LEVEL_KEYS } from "../config/schema.js";
import { formatPlan, type MergeOptions, merge, planMerge } from "../execute.js";
import { SEMANTICS_NAMES, type SemanticsName } from "../semantics.js";
import { mergeRunConfig, recordMerge } from "./track.js";

const USAGE = `usage: lethe-merge CONFIG.yml OUT_URI [options] [--<config.path>=<value> ...]

  --semantics mergekit|paper|peft   what TIES means (default mergekit; peft for LoRA adapters)
  --threads N                       worker threads (default: all cores)
  --dry-run                         print the resolved plan per tensor and exit (OUT_URI optional)
  --out-shard-size SIZE             largest output shard, in bytes with k/M/B suffixes (default 5B)
  --dtype DTYPE                     working dtype (same as --dtype=... overriding the config's dtype)
  --tensor-union                    merge tensors some models lack, from the models that have them
  --tensor-intersection             leave tensors some models lack out of the output
  --random-seed N                   seed of DARE/DELLA randomness (default 0)
  --trim-scope global|tensor        paper semantics: trim over the whole model (default) or per tensor
  --exact-f32-accumulate            mergekit semantics with f32 intermediates, rounded once on output
  --lora factorwise|delta           LoRA adapter inputs: PEFT's factor-wise merge (default) or exact ΔW
  --fold                            factor-wise: fold the merged adapter into the base (full model)
  --lora-rank R                     delta: truncate the merged ΔW to rank R by SVD (adapter output)
  --no-copy-tokenizer               do not copy tokenizer files from the base
  --quiet                           no warnings or progress on stderr
  --<path>=<value>                  override a config field, e.g. --models.1.parameters.density=0.6`;

/** A `--name=value` whose first segment is a config key overrides the config. */
const CONFIG_KEYS = new Set(TOP_LEVEL_KEYS);
const VALUE_FLAGS = new Set([
  "semantics",
  "threads",
  "out-shard-size",
  "random-seed",
  "trim-scope",
  "lora",
  "lora-rank",
]);
const BOOLEAN_FLAGS = new Set([
  "dry-run",
  "tensor-union",
  "tensor-intersection",
  "exact-f32-accumulate",
  "fold",
  "no-copy-tokenizer",
  "quiet",
  "help",
]);

/** mergekit's parse_kmb: k, M, B suffixes are powers of 1000. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMbB]?)$/.exec(text.trim());
  if (!m) throw new UsageError(`--out-shard-size: "${text}" is not a size such as 5B, 500M or 1000000`);
  const scale = { "": 1, k: 1e3, m: 1e6, b: 1e9 }[m[2]!.toLowerCase() as "" | "k" | "m" | "b"];
  return Math.floor(Number(m[1]) * scale);
}

function positiveInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`--${flag}: expected a positive integer, got "${text}"`);
  return Number(text);
}

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
  overrides: Override[];
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const overrides: Override[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--") || arg === "--") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else if (BOOLEAN_FLAGS.has(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (CONFIG_KEYS.has(name.split(".")[0]!)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value (--${name}=<value>)`);
      overrides.push({ path: name, value });
    } else {
      throw new UsageError(
        `unknown option --${name} (config fields are overridden as --<field>=<value>, e.g. --models.1.parameters.density=0.6)`,
      );
    }
  }
  return { positional, flags, overrides };
}

export function optionsFromFlags(flags: Map<string, string | true>): MergeOptions {
  const options: MergeOptions = {};
  const get = (name: string) => flags.get(name) as string | undefined;
  const semantics = get("semantics");
  if (semantics !== undefined) {
    if (!SEMANTICS_NAMES.includes(semantics as SemanticsName))
      throw new UsageError(`--semantics: expected one of ${SEMANTICS_NAMES.join(", ")}, got "${semantics}"`);
    options.semantics = semantics as SemanticsName;
  }
  if (get("threads") !== undefined) options.threads = positiveInteger("threads", get("threads")!);
  if (get("out-shard-size") !== undefined) options.outShardBytes = parseSize(get("out-shard-size")!);
  if (get("random-seed") !== undefined) {
    const seed = get("random-seed")!;
    if (!/^\d+$/.test(seed))
      throw new UsageError(`--random-seed: expected a non-negative integer, got "${seed}"`);
    options.seed = Number(seed);
  }
  const scope = get("trim-scope");
  if (scope !== undefined) {
    if (scope !== "global" && scope !== "tensor")
      throw new UsageError(`--trim-scope: expected global or tensor, got "${scope}"`);
    options.trimScope = scope;
  }
  const lora = get("lora");
  if (lora !== undefined) {
    if (lora !== "factorwise" && lora !== "delta")
      throw new UsageError(`--lora: expected factorwise or delta, got "${lora}"`);
    options.lora = lora;
  }
  if (get("lora-rank") !== undefined) options.loraRank = positiveInteger("lora-rank", get("lora-rank")!);
  if (flags.has("tensor-union") && flags.has("tensor-intersection"))
    throw new UsageError("--tensor-union and --tensor-intersection exclude each other");
  if (flags.has("tensor-union")) options.coverage = "union";
  if (flags.has("tensor-intersection")) options.coverage = "intersection";
  if (flags.has("exact-f32-accumulate")) options.exactF32Accumulate = true;
  if (flags.has("fold")) options.fold = true;
  if (flags.has("no-copy-tokenizer")) options.copyTokenizer = false;
  return options;
}

async function main(argv: string[]): Promise<number> {
  const { positional, flags, overrides } = parseArgs(argv);
  if (flags.has("help")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const dryRun = flags.has("dry-run");
  if (positional.length < (dryRun ? 1 : 2) || positional.length > 2) {
    throw new UsageError(dryRun ? "expected CONFIG.yml" : "expected CONFIG.yml and OUT_URI");
  }
  const [configPath, outUri] = positional as [string, string | undefined];
  const options = optionsFromFlags(flags);
  const quiet = flags.has("quiet");
  const { config, document } = await loadConfigFile(configPath, overrides);
  options.configDocument = document;
  if (!dryRun) await checkDestination(outUri!);
  if (!quiet) options.log = (line) => process.stderr.write(`${line}\n`);
  if (dryRun) {
    process.stdout.write(`${formatPlan(await planMerge(config, options))}\n`);
    return 0;
  }
  const run = await startStageRun(
    "merge",
    mergeRunConfig(document, outUri!, { threads: options.threads ?? null }),
    outUri!,
  );
  recordInputs(
    run,
    [...(config.baseModel ? [config.baseModel] : []), ...config.models.map((m) => m.model)].flatMap((ref) => [
      { uri: ref.model },
      ...(ref.lora ? [{ uri: ref.lora, type: "adapter" }] : []),
    ]),
  );
  const logProgress = progressLogger(run);
  let bar: ReturnType<typeof progressBar> | null = null;
  options.onProgress = (done, total) => {
    logProgress("merge", done, total);
    if (quiet) return;
    bar ??= progressBar("merging", total);
    bar.update(done);
  };
  let result: Awaited<ReturnType<typeof merge>>;
  try {
    result = await merge(config, outUri!, options);
    recordMerge(run, result);
  } catch (err) {
    await run.finish(1);
    throw err;
  }
  await run.finish(0);
  (bar as ReturnType<typeof progressBar> | null)?.finish();
  if (run.dir && !quiet) process.stderr.write(`tracked in ${run.dir}\n`);
  const total = result.stats.total;
  const models = Object.entries(total.models)
    .map(
      ([label, m]) =>
        `${label}: kept ${(m.kept_fraction * 100).toFixed(1)}%, rejected by the vote ${(m.rejected_fraction * 100).toFixed(1)}%`,
    )
    .join("; ");
  process.stdout.write(
    `merged ${result.stats.merged_tensors} of ${result.stats.tensors} tensors (${result.plan.method.name}, ${result.plan.semantics.name}) in ${result.seconds.toFixed(1)} s → ${result.uri}\n` +
      (models
        ? `${models}; sign conflicts ${(total.sign_conflict_rate * 100).toFixed(2)}% of elements\n`
        : ""),
  );
  return 0;
}

runCli("lethe-merge", USAGE, main, import.meta.url);
