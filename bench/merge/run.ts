/**
 * @lethe/merger benchmark: a TIES merge (mergekit semantics, bf16) of a synthetic base + 2 fine-tunes of
 * Llama-7B-like shapes (32000×4096 embedding and lm_head, 4096×4096 attention, 11008×4096 MLP matrices),
 * ≈ 1.7 GB of bf16 each, against two baselines measured in the same run on the same files:
 *
 *   - the I/O floor: reading all three inputs and writing an output of the same size with plain streams
 *     (no parsing, no arithmetic); target: merge time ≤ 1.5 × the floor;
 *   - the same bytes read and written a whole tensor at a time through one shared buffer of the merge's budget,
 *     as a streaming exact-k merge must (no arithmetic): the part of the merge's cost that is I/O;
 *   - a sort-based selection (mergekit's argsort of |δ|, top k, then the mask) against Lethe's histogram
 *     selection (histogram, exact cut, mask), on the same MLP matrices, single-threaded, checking that both
 *     select exactly the same elements; target: ≥ 10× faster;
 *
 * and the merge's peak RSS next to the streaming budget, (models + 3) × the largest tensor. CPU time (user +
 * system) is printed next to each wall time: with few cores it, not the disk, bounds the merge.
 * The merge runs the built CLI in a child process (`pnpm build` first), timed by /usr/bin/time.
 * Inputs are written under a temporary directory in /tmp and removed at the end.
 *
 *   pnpm build && pnpm exec tsx bench/merge/run.ts [--layers 3] [--runs 3] [--threads N] [--keep]
 *
 * The machine may be shared with other work, so absolute numbers are noisy: the ratios are what to watch.
 */
import { spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SafetensorsFile } from "../../packages/core/src/safetensors/reader.js";
import { SafetensorsWriter, type TensorSpec } from "../../packages/core/src/safetensors/writer.js";
import { FileStore } from "../../packages/core/src/store/file.js";
import { gtaJob } from "../../packages/merger/src/engine/tensor-job.js";
import { decodeTable } from "../../packages/merger/src/kernels/decode.js";
import { scanMagnitudes } from "../../packages/merger/src/kernels/gta.js";
import { mergeMethod } from "../../packages/merger/src/methods/registry.js";
import { SEMANTICS } from "../../packages/merger/src/semantics.js";
import { selectFirstLevel } from "../../packages/merger/src/sparsify/magnitude-select.js";

const { values: args } = parseArgs({
  options: {
    layers: { type: "string", default: "3" },
    runs: { type: "string", default: "3" },
    "selection-runs": { type: "string", default: "3" },
    threads: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const LAYERS = Number(args.layers);
const RUNS = Number(args.runs);
const SELECTION_RUNS = Number(args["selection-runs"]);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const CLI = path.join(REPO, "packages/merger/bin/lethe-merge.js");
const DENSITY = 0.5;

const HIDDEN = 4096;
const INTERMEDIATE = 11008;
const VOCAB = 32000;

function specs(): TensorSpec[] {
  const out: TensorSpec[] = [
    { name: "model.embed_tokens.weight", dtype: "BF16", shape: [VOCAB, HIDDEN] },
    { name: "lm_head.weight", dtype: "BF16", shape: [VOCAB, HIDDEN] },
    { name: "model.norm.weight", dtype: "BF16", shape: [HIDDEN] },
  ];
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    for (const m of ["q_proj", "k_proj", "v_proj", "o_proj"])
      out.push({ name: `${p}.self_attn.${m}.weight`, dtype: "BF16", shape: [HIDDEN, HIDDEN] });
    out.push({ name: `${p}.mlp.gate_proj.weight`, dtype: "BF16", shape: [INTERMEDIATE, HIDDEN] });
    out.push({ name: `${p}.mlp.up_proj.weight`, dtype: "BF16", shape: [INTERMEDIATE, HIDDEN] });
    out.push({ name: `${p}.mlp.down_proj.weight`, dtype: "BF16", shape: [HIDDEN, INTERMEDIATE] });
    out.push({ name: `${p}.input_layernorm.weight`, dtype: "BF16", shape: [HIDDEN] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, dtype: "BF16", shape: [HIDDEN] });
  }
  return out;
}

const numel = (s: TensorSpec) => s.shape.reduce((a, b) => a * b, 1);

/**
 * Deterministic bf16 weights: the base draws |w| in [2^-10, 2^-5) with a random sign; a fine-tune moves
 * each weight by -3..3 units in the last place, so deltas are small, of both signs, and often tied.
 */
function* tensorBytes(tensorIndex: number, n: number, model: number): Generator<Uint8Array> {
  const CHUNK = 1 << 22; // elements
  let base = (0x9e3779b9 ^ (tensorIndex * 0x85ebca6b)) >>> 0 || 1;
  let tune = (0x27d4eb2f ^ (tensorIndex * 0x165667b1) ^ (model * 0x61c88647)) >>> 0 || 1;
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    const out = new Uint16Array(count);
    for (let j = 0; j < count; j++) {
      base ^= base << 13;
      base ^= base >>> 17;
      base ^= base << 5;
      let bits = (base & 0x8000) | (0x3a80 + ((base >>> 16) & 0x2ff));
      if (model > 0) {
        tune ^= tune << 13;
        tune ^= tune >>> 17;
        tune ^= tune << 5;
        bits += (tune >>> 29) - 3;
      }
      out[j] = bits;
    }
    yield new Uint8Array(out.buffer);
  }
}

async function writeModel(dir: string, model: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(
    path.join(dir, "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      num_hidden_layers: LAYERS,
      hidden_size: HIDDEN,
      vocab_size: VOCAB,
      torch_dtype: "bfloat16",
    }),
  );
  const all = specs();
  const writer = new SafetensorsWriter(new FileStore(dir).createWriter("model.safetensors"), all);
  for (const name of writer.order) {
    const i = all.findIndex((s) => s.name === name);
    await writer.writeTensor(name, tensorBytes(i, numel(all[i]!), model));
  }
  await writer.finish();
}

/**
 * The same I/O the way a tensor-by-tensor merge must do it, with no arithmetic: each tensor of the three inputs
 * read whole into one reused shared buffer of the merge's budget, then written whole. Exact-k trimming needs a
 * tensor's every |δ| before any element is merged, so whole tensors are held; this is what that costs over the
 * streaming floor, whose small buffers stay in cache.
 */
async function tensorIoFloor(inputs: string[], output: string, budgetBytes: number): Promise<Timed> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const ranges = [...(await tensorRanges(inputs[0]!)).values()].sort((a, b) => a[0] - b[0]);
  const handles = await Promise.all(inputs.map((f) => fs.open(f, "r")));
  const out = await fs.open(output, "w");
  try {
    const arena = new Uint8Array(new SharedArrayBuffer(budgetBytes));
    let at = 0;
    for (const [begin, end] of ranges) {
      const size = end - begin;
      const views = [0, 1, 2, 3].map(() => {
        if (at + size > arena.byteLength) at = 0;
        const view = arena.subarray(at, at + size);
        at += size;
        return view;
      });
      await Promise.all(handles.map((h, i) => h.read(views[i]!, 0, size, begin)));
      await out.write(views[0]!, 0, size);
    }
    await out.sync();
  } finally {
    await out.close();
    for (const h of handles) await h.close();
  }
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    systemSeconds: used.system / 1e6,
  };
}

/** The I/O floor: stream the three inputs in lockstep and write as many bytes as the output has. */
async function ioFloor(inputs: string[], output: string, outputBytes: number): Promise<Timed> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const readers = inputs.map((f) => createReadStream(f, { highWaterMark: 1 << 22 })[Symbol.asyncIterator]());
  const out = createWriteStream(output, { highWaterMark: 1 << 22 });
  let written = 0;
  for (;;) {
    const chunks = await Promise.all(readers.map((r) => r.next()));
    if (chunks.every((c) => c.done)) break;
    const size = Math.max(...chunks.map((c) => (c.done ? 0 : (c.value as Buffer).byteLength)));
    const n = Math.min(size, outputBytes - written);
    if (n > 0) {
      // Write the first input's chunk (the bytes are irrelevant; the size is the output's).
      const first = chunks.find((c) => !c.done)!.value as Buffer;
      if (!out.write(first.subarray(0, n))) await new Promise<void>((r) => out.once("drain", () => r()));
      written += n;
    }
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  const fh = await fs.open(output, "r+");
  await fh.sync();
  await fh.close();
  const used = process.cpuUsage(cpu);
  return {
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    systemSeconds: used.system / 1e6,
  };
}

interface Timed {
  seconds: number;
  /** User + system CPU seconds: on a machine with few cores, what bounds the wall time. */
  cpuSeconds: number;
  /** The system part of it (reads, writes, page faults). */
  systemSeconds: number;
}

interface MergeRun extends Timed {
  maxRssBytes: number;
}

function describe(t: Timed): string {
  return `${t.seconds.toFixed(2)} s (CPU ${t.cpuSeconds.toFixed(1)} s, of which system ${t.systemSeconds.toFixed(1)} s)`;
}

function runMerge(config: string, out: string): MergeRun {
  const threads = args.threads ? ["--threads", args.threads] : [];
  const r = spawnSync(
    "/usr/bin/time",
    ["-f", "TIME %e %M %U %S", process.execPath, CLI, config, out, "--quiet", ...threads],
    {
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(`lethe-merge failed (${r.status}): ${r.stderr}`);
  const m = /TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (!m) throw new Error(`no timing from /usr/bin/time: ${r.stderr}`);
  return {
    seconds: Number(m[1]),
    maxRssBytes: Number(m[2]) * 1024,
    cpuSeconds: Number(m[3]) + Number(m[4]),
    systemSeconds: Number(m[4]),
  };
}

/** Where each tensor's bytes lie in a safetensors file (core's header parser), as absolute [start, end). */
async function tensorRanges(file: string): Promise<Map<string, [number, number]>> {
  const header = (await SafetensorsFile.open(new FileStore(path.dirname(file)), path.basename(file))).header;
  return new Map(
    header.tensors.map((t) => [t.name, [header.dataStart + t.begin, header.dataStart + t.end]] as const),
  );
}

async function readTensor(file: string, name: string): Promise<Uint8Array> {
  const [start, end] = (await tensorRanges(file)).get(name)!;
  const fh = await fs.open(file, "r");
  try {
    const out = new Uint8Array(new SharedArrayBuffer(end - start));
    await fh.read(out, 0, end - start, start);
    return out;
  } finally {
    await fh.close();
  }
}

/** |δ| = |bf16(X − B)| as its 15-bit magnitude key, for every element (what both selections rank). */
function deltaKeys(base: Uint8Array, ft: Uint8Array, n: number): Uint16Array {
  const table = decodeTable("BF16", "BF16");
  const b = new Uint16Array(base.buffer, base.byteOffset, n);
  const x = new Uint16Array(ft.buffer, ft.byteOffset, n);
  const keys = new Uint16Array(n);
  const scratch = new Float32Array(1);
  const bits = new Uint32Array(scratch.buffer);
  for (let j = 0; j < n; j++) {
    scratch[0] = table[x[j]!]! - table[b[j]!]!;
    const u = bits[0]!;
    keys[j] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0x7fff;
  }
  return keys;
}

/** mergekit's selection: a full argsort of |δ| (descending; ties to the lower index), the first k → mask. */
function sortSelection(keys: Uint16Array, k: number): Uint8Array {
  const n = keys.length;
  const packed = new Float64Array(n);
  const span = 2 ** 27; // indices below 2^27: (|δ| key, index) in one float64
  for (let j = 0; j < n; j++) packed[j] = keys[j]! * span + (span - 1 - j);
  packed.sort();
  const mask = new Uint8Array(n);
  for (let r = 0; r < k; r++) mask[span - 1 - (packed[n - 1 - r]! % span)] = 1;
  return mask;
}

/** Lethe's selection: a histogram of the 2^15 magnitudes, the exact cut (the merger's), the mask. */
function histogramSelection(keys: Uint16Array, k: number): Uint8Array {
  const n = keys.length;
  const hist = new Uint32Array(1 << 15);
  for (let j = 0; j < n; j++) hist[keys[j]!]!++;
  const first = selectFirstLevel(hist, n, k, true);
  if (!first.done) throw new Error("bf16 selection needs one level");
  const cut = first.cut.key >>> 16;
  let quota = first.cut.ties;
  const mask = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const key = keys[j]!;
    if (key > cut || (key === cut && quota-- > 0)) mask[j] = 1;
  }
  return mask;
}

/** The merger's own pass: δ and its histogram in one fused pass (scanMagnitudes' bf16 path). */
function mergerScan(base: Uint8Array, ft: Uint8Array, shape: number[]): void {
  const job = gtaJob(
    {
      method: mergeMethod("ties")!,
      semantics: SEMANTICS.mergekit,
      working: "BF16",
      outDtype: "BF16",
      tensor: "t",
      shape,
      models: [{ index: 0, weight: 1, density: DENSITY }],
      normalize: true,
      rescale: false,
      lambda: 1,
      seed: 0,
    },
    { base: { dtype: "BF16", bytes: base }, models: [{ dtype: "BF16", bytes: ft }] },
  );
  scanMagnitudes(job.spec, job.inputs, 0, shape[0]! * shape[1]!, [0]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  if (!existsSync(path.join(REPO, "packages/merger/dist/cli/lethe-merge.js"))) {
    throw new Error("packages/merger is not built: run `pnpm build` first");
  }
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "lethe-bench-merge-"));
  try {
    const dirs = ["base", "ft-a", "ft-b"].map((d) => path.join(root, d));
    let t = performance.now();
    for (const [i, d] of dirs.entries()) await writeModel(d, i);
    const files = dirs.map((d) => path.join(d, "model.safetensors"));
    const sizes = await Promise.all(files.map(async (f) => (await fs.stat(f)).size));
    const all = specs();
    const largest = Math.max(...all.map((s) => numel(s) * 2));
    console.log(
      `inputs: 3 × ${(sizes[0]! / 1e9).toFixed(2)} GB bf16 (${all.length} tensors, largest ${(largest / 1e6).toFixed(0)} MB), written in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    console.log(
      `machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
    );

    const config = path.join(root, "ties.yml");
    await fs.writeFile(
      config,
      `merge_method: ties
base_model: ${dirs[0]}
models:
  - model: ${dirs[1]}
    parameters: {weight: 0.5, density: ${DENSITY}}
  - model: ${dirs[2]}
    parameters: {weight: 0.5, density: ${DENSITY}}
parameters: {normalize: true}
dtype: bfloat16
`,
    );

    const floors: Timed[] = [];
    const tensorFloors: Timed[] = [];
    const merges: MergeRun[] = [];
    for (let r = 0; r < RUNS; r++) {
      const floorOut = path.join(root, "floor.bin");
      floors.push(await ioFloor(files, floorOut, sizes[0]!));
      await fs.rm(floorOut, { force: true });
      tensorFloors.push(await tensorIoFloor(files, floorOut, 6 * largest));
      await fs.rm(floorOut, { force: true });
      const out = path.join(root, `merged-${r}`);
      merges.push(runMerge(config, out));
      await fs.rm(out, { recursive: true, force: true });
      console.log(`  run ${r + 1}: I/O floor ${describe(floors.at(-1)!)}, merge ${describe(merges.at(-1)!)}`);
    }
    const floor = median(floors.map((f) => f.seconds));
    const floorCpu = median(floors.map((f) => f.cpuSeconds));
    const tensorFloor = median(tensorFloors.map((f) => f.seconds));
    const tensorFloorCpu = median(tensorFloors.map((f) => f.cpuSeconds));
    const mergeSeconds = median(merges.map((m) => m.seconds));
    const mergeCpu = median(merges.map((m) => m.cpuSeconds));
    const rss = Math.max(...merges.map((m) => m.maxRssBytes));
    const moved = sizes.reduce((a, b) => a + b, 0) + sizes[0]!;

    // Selection: the MLP matrices of layer 0, both fine-tunes, single-threaded, on the same |δ|.
    const names = ["model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"];
    const timings = {
      delta: [] as number[],
      sort: [] as number[],
      hist: [] as number[],
      scan: [] as number[],
    };
    let selected = 0;
    for (let r = 0; r < SELECTION_RUNS; r++) {
      const total = { delta: 0, sort: 0, hist: 0, scan: 0 };
      for (const name of names) {
        const spec = all.find((s) => s.name === name)!;
        const n = numel(spec);
        const k = Math.floor(DENSITY * n);
        const base = await readTensor(files[0]!, name);
        for (const ft of [files[1]!, files[2]!]) {
          const x = await readTensor(ft, name);
          t = performance.now();
          const keys = deltaKeys(base, x, n);
          total.delta += performance.now() - t;
          t = performance.now();
          const a = histogramSelection(keys, k);
          total.hist += performance.now() - t;
          t = performance.now();
          const b = sortSelection(keys, k);
          total.sort += performance.now() - t;
          t = performance.now();
          mergerScan(base, x, spec.shape);
          total.scan += performance.now() - t;
          if (!Buffer.from(a.buffer).equals(Buffer.from(b.buffer)))
            throw new Error(`${name}: the two selections differ`);
          selected += n;
        }
      }
      timings.delta.push(total.delta / 1000);
      timings.sort.push(total.sort / 1000);
      timings.hist.push(total.hist / 1000);
      timings.scan.push(total.scan / 1000);
    }
    selected /= SELECTION_RUNS;
    const deltaS = median(timings.delta);
    const sortS = median(timings.sort);
    const histS = median(timings.hist);
    const scanS = median(timings.scan);

    const pad = (s: string, n: number) => s.padEnd(n);
    console.log("");
    console.log(`${pad("", 44)}${pad("median s", 12)}${pad("CPU s", 10)}GB/s moved`);
    console.log(
      `${pad("I/O floor (read 3 inputs, write 1 output)", 44)}${pad(floor.toFixed(2), 12)}${pad(floorCpu.toFixed(1), 10)}${(moved / 1e9 / floor).toFixed(2)}`,
    );
    console.log(
      `${pad("whole-tensor I/O, no arithmetic", 44)}${pad(tensorFloor.toFixed(2), 12)}${pad(tensorFloorCpu.toFixed(1), 10)}${(moved / 1e9 / tensorFloor).toFixed(2)}`,
    );
    console.log(
      `${pad(`TIES merge (lethe-merge, ${args.threads ?? os.availableParallelism()} threads)`, 44)}${pad(mergeSeconds.toFixed(2), 12)}${pad(mergeCpu.toFixed(1), 10)}${(moved / 1e9 / mergeSeconds).toFixed(2)}`,
    );
    console.log(`${pad("merge / I/O floor", 44)}${(mergeSeconds / floor).toFixed(2)}×   (target ≤ 1.5×)`);
    console.log(`${pad("whole-tensor I/O / I/O floor", 44)}${(tensorFloor / floor).toFixed(2)}×`);
    console.log(
      `${pad(`merge CPU / ${os.availableParallelism()} cores (bounds its time)`, 44)}${(mergeCpu / os.availableParallelism()).toFixed(2)} s`,
    );
    console.log("");
    console.log(
      `selection of the top ${DENSITY * 100}% of |δ| on ${(selected / 1e6).toFixed(0)}M elements (2 MLP matrices × 2 fine-tunes), 1 thread:`,
    );
    console.log(`${pad("  |δ| for both (bf16 X − B, magnitude key)", 52)}${deltaS.toFixed(2)} s`);
    console.log(`${pad("  sort-based: argsort + first k + mask (mergekit)", 52)}${sortS.toFixed(2)} s`);
    console.log(`${pad("  histogram: 2^15 bins + exact cut + mask (lethe)", 52)}${histS.toFixed(2)} s`);
    console.log(
      `${pad("  sort / histogram (same elements selected)", 52)}${(sortS / histS).toFixed(1)}×   (target ≥ 10×)`,
    );
    console.log(
      `${pad("  with |δ|: (|δ| + sort) / (|δ| + histogram)", 52)}${((deltaS + sortS) / (deltaS + histS)).toFixed(1)}×`,
    );
    console.log(`${pad("  the merger's fused |δ| + histogram pass", 52)}${scanS.toFixed(2)} s`);
    console.log("");
    console.log(
      `merge peak RSS ${(rss / 1e9).toFixed(2)} GB; streaming budget for tensor data (models + 3) × largest = ${((6 * largest) / 1e9).toFixed(2)} GB; one input model ${(sizes[0]! / 1e9).toFixed(2)} GB`,
    );
  } finally {
    if (!args.keep) await fs.rm(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
}

await main();
