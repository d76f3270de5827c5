/**
 * @lethe/core I/O benchmark: write and read back a synthetic ~512 MiB safetensors file of bf16 tensors (the
 * shapes of one Llama-7B-like layer plus an embedding) through the store API, on a local directory and on a
 * throwaway local S3 server (Ceph radosgw, started here with the test harness). Next to each, the raw
 * baseline measured in the same run on the same bytes: fs.writeFile / fs.readFile of one buffer, and a
 * single PutObject / GetObject of one buffer. Prints MB/s (medians of several runs) and the ratios.
 * Target: safetensors read on file ≥ 0.8 × raw file read.
 *
 *   pnpm exec tsx bench/core-io/run.ts [--runs N] [--s3-runs N] [--no-s3] [--dir DIR]
 *
 * The machine is shared with other work, so absolute numbers are noisy; the ratios are what to watch.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { SafetensorsFile } from "../../packages/core/src/safetensors/reader.js";
import { SafetensorsWriter, type TensorSpec } from "../../packages/core/src/safetensors/writer.js";
import { FileStore } from "../../packages/core/src/store/file.js";
import { createS3Store } from "../../packages/core/src/store/s3.js";
import type { Store } from "../../packages/core/src/store/types.js";
import {
  type CephCluster,
  missingCephBinaries,
  startCephCluster,
} from "../../packages/core/test/setup/ceph-cluster.js";

// The benchmarks live outside the workspace packages: take the AWS SDK from @lethe/core's dependencies.
const requireFromCore = createRequire(new URL("../../packages/core/package.json", import.meta.url));
const {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} = requireFromCore(
  "@aws-sdk/client-s3",
) as typeof import("../../packages/core/node_modules/@aws-sdk/client-s3/dist-types/index.js");

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    "s3-runs": { type: "string", default: "3" },
    "no-s3": { type: "boolean", default: false },
    dir: { type: "string" },
  },
});
const FILE_RUNS = Number(args.runs);
const S3_RUNS = Number(args["s3-runs"]);
const KEY = "model.safetensors";
const RAW_KEY = "raw.bin";

// hidden 4096, intermediate 5632, vocab 32000: ≈ 510 MiB of bf16.
const SPECS: TensorSpec[] = [
  { name: "model.embed_tokens.weight", dtype: "BF16", shape: [32000, 4096] },
  { name: "model.layers.0.self_attn.q_proj.weight", dtype: "BF16", shape: [4096, 4096] },
  { name: "model.layers.0.self_attn.k_proj.weight", dtype: "BF16", shape: [4096, 4096] },
  { name: "model.layers.0.self_attn.v_proj.weight", dtype: "BF16", shape: [4096, 4096] },
  { name: "model.layers.0.self_attn.o_proj.weight", dtype: "BF16", shape: [4096, 4096] },
  { name: "model.layers.0.mlp.gate_proj.weight", dtype: "BF16", shape: [5632, 4096] },
  { name: "model.layers.0.mlp.up_proj.weight", dtype: "BF16", shape: [5632, 4096] },
  { name: "model.layers.0.mlp.down_proj.weight", dtype: "BF16", shape: [4096, 5632] },
  { name: "model.layers.0.input_layernorm.weight", dtype: "BF16", shape: [4096] },
  { name: "model.layers.0.post_attention_layernorm.weight", dtype: "BF16", shape: [4096] },
  { name: "model.norm.weight", dtype: "BF16", shape: [4096] },
];

const tensorData = new Map(SPECS.map((s) => [s.name, randomBytes(2 * s.shape.reduce((a, b) => a * b, 1))]));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// Garbage from the previous step (hundreds of MiB of buffers) is collected before each timed step, not
// during it: freeing it is not the cost of the step being measured.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  collectGarbage();
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** The safetensors file through the store API: header then every tensor, streamed. */
async function writeSafetensors(store: Store): Promise<number> {
  const writer = new SafetensorsWriter(store.createWriter(KEY), SPECS);
  for (const name of writer.order) await writer.writeTensor(name, tensorData.get(name)!);
  await writer.finish();
  return writer.totalBytes;
}

/** Opens the file and reads every tensor, keeping them all (as loading a model does). */
async function readSafetensors(store: Store): Promise<number> {
  const file = await SafetensorsFile.open(store, KEY);
  const tensors = [...(await file.readTensors()).values()];
  const bytes = tensors.reduce((n, t) => n + t.data.byteLength, 0);
  if (bytes !== file.header.dataSize)
    throw new Error(`read ${bytes} bytes, expected ${file.header.dataSize}`);
  return file.fileSize;
}

interface Row {
  backend: string;
  op: "write" | "read";
  lethe: number;
  raw: number;
  baseline: string;
}

interface Backend {
  name: string;
  store: Store;
  runs: number;
  /** Writes the bytes as one buffer under another name. */
  rawWrite(bytes: Uint8Array): Promise<void>;
  /** Reads the safetensors file the store wrote, as one object/file. */
  rawRead(size: number): Promise<void>;
  cleanup(): Promise<void>;
  baselines: { write: string; read: string };
}

/** Safetensors and raw take turns going first, so neither always meets a busier disk or server. */
async function measure(backend: Backend): Promise<Row[]> {
  const times = {
    stWrite: [] as number[],
    stRead: [] as number[],
    rawWrite: [] as number[],
    rawRead: [] as number[],
  };
  await backend.cleanup();
  const size = await writeSafetensors(backend.store);
  const bytes = await backend.store.get(KEY);
  for (let run = 0; run < backend.runs; run++) {
    await backend.cleanup();
    const writes = [
      async () => times.stWrite.push(await seconds(() => writeSafetensors(backend.store))),
      async () => times.rawWrite.push(await seconds(() => backend.rawWrite(bytes))),
    ];
    const reads = [
      async () => times.stRead.push(await seconds(() => readSafetensors(backend.store))),
      async () => times.rawRead.push(await seconds(() => backend.rawRead(size))),
    ];
    if (run % 2 === 1) {
      writes.reverse();
      reads.reverse();
    }
    for (const step of [...writes, ...reads]) await step();
    const last = (xs: number[]) => `${(size / 1e6 / xs.at(-1)!).toFixed(0)}`;
    process.stderr.write(
      `${backend.name}: run ${run + 1}/${backend.runs} (MB/s: write ${last(times.stWrite)} vs ${last(times.rawWrite)}, ` +
        `read ${last(times.stRead)} vs ${last(times.rawRead)}${run % 2 ? ", raw first" : ""})\n`,
    );
  }
  await backend.cleanup();
  const mbps = (xs: number[]) => size / 1e6 / median(xs);
  return [
    {
      backend: backend.name,
      op: "write",
      lethe: mbps(times.stWrite),
      raw: mbps(times.rawWrite),
      baseline: backend.baselines.write,
    },
    {
      backend: backend.name,
      op: "read",
      lethe: mbps(times.stRead),
      raw: mbps(times.rawRead),
      baseline: backend.baselines.read,
    },
  ];
}

async function fileBackend(dir: string): Promise<Backend> {
  const root = await fs.mkdtemp(path.join(dir, "lethe-bench-io-"));
  const store = new FileStore(path.join(root, "ckpt"));
  const raw = path.join(root, RAW_KEY);
  return {
    name: "file",
    store,
    runs: FILE_RUNS,
    rawWrite: (bytes) => fs.writeFile(raw, bytes),
    rawRead: async () => {
      await fs.readFile(store.pathOf(KEY));
    },
    cleanup: async () => {
      await fs.rm(path.join(root, "ckpt"), { recursive: true, force: true });
      await fs.rm(raw, { force: true });
    },
    baselines: { write: "fs.writeFile", read: "fs.readFile" },
  };
}

async function s3Backend(cluster: CephCluster): Promise<Backend & { close(): Promise<void> }> {
  const { endpoint, region, accessKeyId, secretAccessKey } = cluster;
  const options = { endpoint, region, credentials: { accessKeyId, secretAccessKey }, forcePathStyle: true };
  const client = new S3Client(options);
  const bucket = "lethe-bench-io";
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const store = createS3Store(`s3://${bucket}/ckpt`, options);
  const del = (key: string) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  return {
    name: "s3 (radosgw)",
    store,
    runs: S3_RUNS,
    rawWrite: async (bytes) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: RAW_KEY, Body: bytes }));
    },
    rawRead: async (size) => {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `ckpt/${KEY}` }));
      const out = new Uint8Array(size);
      let at = 0;
      for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
        out.set(chunk, at);
        at += chunk.byteLength;
      }
      if (at !== size) throw new Error(`GetObject returned ${at} of ${size} bytes`);
    },
    cleanup: async () => {
      await del(`ckpt/${KEY}`);
      await del(RAW_KEY);
    },
    baselines: { write: "one PutObject", read: "one GetObject" },
    close: async () => {
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
  };
}

function printTable(rows: Row[]): void {
  const header = ["backend", "op", "safetensors MB/s", "raw MB/s", "raw baseline", "ratio"];
  const body = rows.map((r) => [
    r.backend,
    r.op,
    r.lethe.toFixed(0),
    r.raw.toFixed(0),
    r.baseline,
    (r.lethe / r.raw).toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  const total = SPECS.reduce((n, s) => n + 2 * s.shape.reduce((a, b) => a * b, 1), 0);
  console.log(
    `safetensors: ${SPECS.length} bf16 tensors, ${(total / 2 ** 20).toFixed(0)} MiB of data; medians of ${FILE_RUNS} (file) / ${S3_RUNS} (s3) runs`,
  );
  const rows: Row[] = [];
  const dir = args.dir ?? os.tmpdir();
  const file = await fileBackend(dir);
  try {
    rows.push(...(await measure(file)));
  } finally {
    await fs.rm(path.dirname((file.store as FileStore).root), { recursive: true, force: true });
  }

  if (!args["no-s3"]) {
    const missing = missingCephBinaries();
    if (missing.length > 0) {
      console.log(`(s3 skipped: ${missing.join(", ")} not on PATH)`);
    } else {
      const cluster = await startCephCluster({
        memstoreBytes: 2 * 2 ** 30,
        log: (l) => process.stderr.write(`${l}\n`),
      });
      try {
        const s3 = await s3Backend(cluster);
        try {
          rows.push(...(await measure(s3)));
        } finally {
          await s3.close();
        }
      } finally {
        await cluster.stop();
      }
    }
  }
  console.log();
  printTable(rows);
  const fileRead = rows.find((r) => r.backend === "file" && r.op === "read");
  if (fileRead) {
    const ratio = fileRead.lethe / fileRead.raw;
    console.log(
      `\nsafetensors read / raw file read = ${ratio.toFixed(2)} (target ≥ 0.80: ${ratio >= 0.8 ? "met" : "NOT met"})`,
    );
  }
}

await main();
