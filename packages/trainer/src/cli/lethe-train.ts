/**
 * lethe-train: make a model forget (or memorise, with the sft preset).
 *
 *   lethe-train CONFIG.yml [--preset NAME] [--dotted.path=value …] [--resume CKPT] [--threads N] [--quiet]
 *   lethe-train --preset NAME --print-config [--dotted.path=value …]
 *   lethe-train grad CONFIG.yml --out FILE.safetensors [--preset NAME] [--dotted.path=value …]
 */
import { runCli, UsageError } from "@lethe/core";
import { splitOverrides } from "../config/overrides.js";
import { printConfig } from "../config/print.js";
import { loadTrainConfig, resolveDraftConfig } from "../config/resolve.js";
import { runGrad } from "./grad.js";
import { runTrain } from "./run.js";

export const USAGE = `usage: lethe-train CONFIG.yml [--preset NAME] [--dotted.path=value ...] [--resume CKPT] [--threads N] [--quiet]
       lethe-train [CONFIG.yml] --preset NAME --print-config [--dotted.path=value ...]
       lethe-train grad CONFIG.yml --out FILE.safetensors [--preset NAME] [--dotted.path=value ...]

  CONFIG.yml           the training config (keys: model, adapter, reference, out, data, params, loss, optim,
                       batch_size, grad_accum, epochs, seed, max_steps, eval, time_budget, log_every)
  --preset NAME        sft, zju-over, zju-under, rmu-wmdp, adaptive-rmu-1b, adaptive-rmu-7b
  --a.b.c=VALUE        override any config field (YAML-typed: --optim.lr=5e-5, --optim.betas=[0.9,0.95])
  --resume CKPT        continue a run from one of its epoch checkpoints (same weights as not stopping)
  --print-config       print the resolved config as YAML and exit
  --threads N          ONNX Runtime threads per op (default: every physical core)
  --quiet              no progress on stderr
  grad                 no update: the configured loss on the first batch, its terms, every trainable
                       parameter's gradient and the batch itself, as safetensors (see the README's parity recipe)

The run is recorded by the tracker (LETHE_TRACKER: local by default, wandb, none).`;

interface Flags {
  positional: string[];
  preset: string | null;
  resume: string | null;
  out: string | null;
  printConfig: boolean;
  threads: number | null;
  quiet: boolean;
  help: boolean;
}

export function parseFlags(rest: readonly string[]): Flags {
  const flags: Flags = {
    positional: [],
    preset: null,
    resume: null,
    out: null,
    printConfig: false,
    threads: null,
    quiet: false,
    help: false,
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const value = () => {
      const v = rest[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === "--preset") flags.preset = value();
    else if (arg === "--resume") flags.resume = value();
    else if (arg === "--out") flags.out = value();
    else if (arg === "--threads") {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--threads must be a positive integer`);
      flags.threads = n;
    } else if (arg === "--print-config") flags.printConfig = true;
    else if (arg === "--quiet") flags.quiet = true;
    else if (arg === "--help" || arg === "-h") flags.help = true;
    else if (arg.startsWith("--")) {
      throw new UsageError(`unknown flag ${arg} (config fields are set as --dotted.path=value)`);
    } else flags.positional.push(arg);
  }
  return flags;
}

async function main(argv: string[]): Promise<number> {
  const grad = argv[0] === "grad";
  const { overrides, rest } = splitOverrides(grad ? argv.slice(1) : argv);
  const flags = parseFlags(rest);
  if (grad) {
    // grad writes one file and no checkpoint: `--out FILE` and `--out=FILE` both name it, and it stands in
    // for the config's `out`, which a config written only for grad need not have.
    const outOverride = overrides.findLast((o) => o.path === "out");
    flags.out ??= outOverride?.text ?? null;
    if (flags.out && !outOverride) overrides.push({ path: "out", text: JSON.stringify(flags.out) });
  }
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (flags.positional.length > 1) throw new UsageError(`one config file, got ${flags.positional.join(" ")}`);
  const file = flags.positional[0];
  const options = { preset: flags.preset, overrides };
  if (flags.printConfig) {
    const config = file
      ? await loadTrainConfig(file, options)
      : resolveDraftConfig({}, { ...options, source: "--preset" });
    process.stdout.write(printConfig(config));
    return 0;
  }
  if (!file) throw new UsageError("a config file is required (or --preset NAME --print-config)");
  const config = await loadTrainConfig(file, options);
  const session = flags.threads === null ? {} : { intraOpNumThreads: flags.threads };
  if (grad) {
    if (!flags.out) throw new UsageError("grad needs --out FILE.safetensors");
    await runGrad(config, flags.out, session);
    return 0;
  }
  return runTrain(config, { session, resume: flags.resume, quiet: flags.quiet });
}

runCli("lethe-train", USAGE, main, import.meta.url);
