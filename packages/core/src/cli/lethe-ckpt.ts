/**
 * lethe-ckpt: inspect, verify and copy checkpoints.
 *   lethe-ckpt inspect URI [--json]
 *   lethe-ckpt verify URI
 *   lethe-ckpt cp SRC DST
 *   lethe-ckpt cleanup URI|BUCKET/PREFIX [--older-than 1h] [--dry-run]
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { openCheckpoint } from "../checkpoint/checkpoint.js";
import { copyCheckpoint } from "../checkpoint/copy.js";
import { verifyCheckpoint } from "../checkpoint/verify.js";
import type { WeightsReader } from "../safetensors/sharded.js";
import { parseDuration } from "./duration.js";
import { formatBytes, progressBar } from "./progress.js";
import { runCli, UsageError } from "./run-cli.js";

const USAGE = `usage:
  lethe-ckpt inspect URI [--json]   tensors (name, dtype, shape, sha256), config, manifest, adapter
  lethe-ckpt verify URI             check every file against the manifest and the safetensors spec
  lethe-ckpt cp SRC DST             copy a checkpoint between stores (paths, file://, s3://), atomically
  lethe-ckpt cleanup URI|BUCKET/PREFIX [--older-than 1h] [--dry-run]
                                    on S3: abort orphaned multipart uploads and remove publications whose
                                    writer crashed (stale lease, no lethe.json); never a published checkpoint

URIs: a path, file:///dir or s3://bucket/prefix (S3 settings from the AWS environment;
LETHE_S3_FORCE_PATH_STYLE=1 for S3-compatible servers).`;

interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
  sha256: string;
}

async function tensorRows(weights: WeightsReader): Promise<TensorRow[]> {
  const rows: TensorRow[] = [];
  for (const name of weights.names().sort()) {
    const entry = await weights.entry(name);
    const bytes = await weights.readBytes(name);
    rows.push({
      name,
      dtype: entry.dtype,
      shape: entry.shape,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    });
  }
  return rows;
}

async function inspect(uri: string, json: boolean): Promise<number> {
  const ckpt = await openCheckpoint(uri);
  const tensors = ckpt.weights ? await tensorRows(ckpt.weights) : [];
  const adapterTensors = ckpt.adapter ? await tensorRows(ckpt.adapter.weights) : [];
  if (json) {
    const out = {
      uri: ckpt.uri,
      unverified: ckpt.unverified,
      tensors,
      manifest: ckpt.manifest,
      config: ckpt.config,
      adapter: ckpt.adapter ? { config: ckpt.adapter.config, tensors: adapterTensors } : null,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [`checkpoint ${ckpt.uri}`];
  if (ckpt.manifest) {
    const m = ckpt.manifest;
    lines.push(`manifest: stage ${m.stage}, id ${m.id}, created ${m.created}, ${m.files.length} files`);
    for (const p of m.parents) lines.push(`  parent ${p}`);
    if (Object.keys(m.parameters).length) lines.push(`  parameters ${JSON.stringify(m.parameters)}`);
    if (Object.keys(m.metrics).length) lines.push(`  metrics ${JSON.stringify(m.metrics)}`);
  } else {
    lines.push("manifest: none (UNVERIFIED: not published by Lethe; files cannot be checked)");
  }
  if (ckpt.config) lines.push(`config: ${describeConfig(ckpt.config)}`);
  if (ckpt.adapter) lines.push(`adapter: ${describeAdapter(ckpt.adapter.config)}`);
  const table = (title: string, rows: TensorRow[]): void => {
    if (!rows.length) return;
    lines.push(`${title} (${rows.length}):`);
    const width = Math.max(...rows.map((r) => r.name.length));
    for (const r of rows) {
      lines.push(`  ${r.name.padEnd(width)}  ${r.dtype.padEnd(5)} [${r.shape.join(", ")}]  ${r.sha256}`);
    }
  };
  table("tensors", tensors);
  table("adapter tensors", adapterTensors);
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

function describeConfig(config: Record<string, unknown>): string {
  const arch = Array.isArray(config["architectures"])
    ? config["architectures"].join(",")
    : config["model_type"];
  const parts = [
    String(arch ?? "unknown architecture"),
    config["num_hidden_layers"] !== undefined ? `${config["num_hidden_layers"]} layers` : null,
    config["hidden_size"] !== undefined ? `hidden ${config["hidden_size"]}` : null,
    config["num_attention_heads"] !== undefined
      ? `heads ${config["num_attention_heads"]}/${config["num_key_value_heads"] ?? config["num_attention_heads"]}`
      : null,
    config["vocab_size"] !== undefined ? `vocab ${config["vocab_size"]}` : null,
    config["torch_dtype"] !== undefined ? `torch_dtype ${config["torch_dtype"]}` : null,
  ];
  return parts.filter(Boolean).join(", ");
}

function describeAdapter(config: Record<string, unknown>): string {
  const targets = config["target_modules"];
  return [
    `${config["peft_type"] ?? "PEFT"} r=${config["r"]} alpha=${config["lora_alpha"]}`,
    targets ? `targets ${Array.isArray(targets) ? targets.join(",") : String(targets)}` : "",
    config["base_model_name_or_path"] ? `base ${config["base_model_name_or_path"]}` : "",
  ]
    .filter(Boolean)
    .join(", ");
}

async function verify(uri: string): Promise<number> {
  const result = await verifyCheckpoint(uri, { stopAtFirst: true });
  if (!result.ok) {
    process.stderr.write(`lethe-ckpt verify: ${result.problems[0]}\n`);
    return 1;
  }
  process.stdout.write(`ok: ${result.filesChecked} files, ${formatBytes(result.bytesChecked)} verified\n`);
  return 0;
}

async function copy(src: string, dst: string): Promise<number> {
  let bar: ReturnType<typeof progressBar> | null = null;
  const manifest = await copyCheckpoint(src, dst, {
    onProgress(done, total) {
      bar ??= progressBar("copying", total);
      bar.update(done);
    },
  });
  (bar as ReturnType<typeof progressBar> | null)?.finish();
  const bytes = manifest.files.reduce((a, f) => a + f.size, 0);
  process.stdout.write(`copied ${manifest.files.length} files (${formatBytes(bytes)}) to ${dst}\n`);
  return 0;
}

async function cleanup(target: string, olderThan: string, dryRun: boolean): Promise<number> {
  const olderThanMs = parseDuration(olderThan);
  if (olderThanMs === null) {
    throw new UsageError(`--older-than "${olderThan}": expected a duration like 90s, 30m, 1h or 2d`);
  }
  const uri = target.startsWith("s3://") ? target : `s3://${target}`;
  const { cleanupS3 } = await import("../store/s3-cleanup.js");
  const actions = await cleanupS3(uri, { olderThanMs, dryRun });
  const verb = {
    "remove-prefix": "removed",
    "remove-marker": "removed",
    "abort-upload": "aborted",
    skip: "kept",
  };
  const counts = { "remove-prefix": 0, "remove-marker": 0, "abort-upload": 0, skip: 0 };
  for (const a of actions) {
    counts[a.what]++;
    const did = a.what === "skip" ? "kept" : dryRun ? "would be " + verb[a.what] : verb[a.what];
    process.stdout.write(`${did}: ${a.uri}: ${a.detail}\n`);
  }
  process.stdout.write(
    `${dryRun ? "dry run: " : ""}${counts["remove-prefix"]} interrupted publication(s), ` +
      `${counts["remove-marker"]} leftover marker(s), ${counts["abort-upload"]} orphaned upload(s)` +
      `${dryRun ? " to clean" : " cleaned"}; ${counts.skip} kept\n`,
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      "older-than": { type: "string" },
      "dry-run": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const need = (n: number): string[] => {
    if (rest.length !== n)
      throw new UsageError(`${command} takes ${n} argument${n > 1 ? "s" : ""}, got ${rest.length}`);
    return rest;
  };
  switch (command) {
    case "inspect":
      return inspect(need(1)[0]!, values.json === true);
    case "verify":
      return verify(need(1)[0]!);
    case "cp": {
      const [src, dst] = need(2);
      return copy(src!, dst!);
    }
    case "cleanup":
      return cleanup(need(1)[0]!, values["older-than"] ?? "1h", values["dry-run"] === true);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

runCli("lethe-ckpt", USAGE, main, import.meta.url);
