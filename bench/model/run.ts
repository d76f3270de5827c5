/**
 * @lethe/model benchmark: a ~110M-parameter Llama config (tied embeddings) at batch 8 × 256 tokens.
 * Prints forward tokens/s and achieved GFLOP/s for the per-layer path and the whole-model graph, the GFLOP/s of
 * plain ORT MatMuls of the same sizes measured in the same run (the baseline) and the ratio; then generation
 * tokens/s with and without the KV cache. Medians of several runs; the machine is shared, so numbers are noisy.
 *
 *   pnpm exec tsx bench/model/run.ts [--threads N] [--runs N] [--quick]
 */
import { parseArgs } from "node:util";
import {
  globalParams,
  layerParams,
  MemoryTensorSource,
  Model,
  SessionCache,
} from "../../packages/model/src/index.js";
import {
  config,
  D,
  forwardFlops,
  I,
  L,
  matmulBaseline,
  median,
  randomCheckpoint,
  row,
  V,
} from "./llama-110m.js";

const { values: args } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
  },
});
const threads = Number(args.threads);
const runs = Number(args.runs);
const BATCH = 8;
const SEQ = args.quick ? 64 : 256;

async function timeIt(n: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

async function main() {
  console.log(
    `@lethe/model bench: Llama D=${D} I=${I} L=${L} V=${V} (tied), batch ${BATCH} × ${SEQ} tokens, intraOpNumThreads=${threads}, medians of ${runs}`,
  );
  const sessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all" as const,
  };
  const sessions = new SessionCache(sessionOptions);
  let t0 = performance.now();
  const checkpoint = randomCheckpoint();
  const model = await Model.create(config, new MemoryTensorSource(checkpoint), { sessionCache: sessions });
  checkpoint.clear();
  const loadSeconds = (performance.now() - t0) / 1000;
  const params = (() => {
    let n = 0;
    for (const s of globalParams(config)) n += s.shape.reduce((a, b) => a * b, 1);
    for (const s of layerParams(config)) n += L * s.shape.reduce((a, b) => a * b, 1);
    return n;
  })();
  console.log(
    `parameters: ${(params / 1e6).toFixed(1)}M; weights loaded (bf16 → f32 feeds) in ${loadSeconds.toFixed(1)} s`,
  );

  const rows = Array.from({ length: BATCH }, (_, b) =>
    Array.from({ length: SEQ }, (_, t) => (b * 131 + t * 7919) % V),
  );
  const flops = forwardFlops(BATCH, SEQ);
  const tokens = BATCH * SEQ;

  t0 = performance.now();
  await model.forward([rows[0]!.slice(0, 4)]);
  const compileSeconds = (performance.now() - t0) / 1000;
  // Interleave the cases run by run, so that load from other processes hits them alike.
  const baseline = await matmulBaseline(sessionOptions, BATCH, SEQ);
  await model.forward(rows);
  await model.forward(rows, { graph: "model" });
  const times = {
    perLayer: [] as number[],
    perLayerHidden: [] as number[],
    whole: [] as number[],
    base: [] as number[],
  };
  const timed = async (into: number[], fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    into.push((performance.now() - t) / 1000);
  };
  // Rotate the order each run so that no case always follows the same one.
  const cases: [number[], () => Promise<unknown>][] = [
    [times.perLayer, () => model.forward(rows)],
    [times.base, async () => times.base.push(await baseline.round())],
    [times.perLayerHidden, () => model.forward(rows, { hidden: true })],
    [times.whole, () => model.forward(rows, { graph: "model" })],
  ];
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < cases.length; k++) {
      const [into, fn] = cases[(k + r) % cases.length]!;
      if (into === times.base) await fn();
      else await timed(into, fn);
    }
  }
  await baseline.release();
  const perLayer = median(times.perLayer);
  const baseSeconds = median(times.base);
  const baseRate = baseline.flops / baseSeconds / 1e9;

  console.log(
    `\nsessions compiled: ${sessions.stats.compiled} (first forward incl. compile: ${compileSeconds.toFixed(2)} s)`,
  );
  console.log(
    row(["case (median; best of the runs last)", "seconds", "tokens/s", "GFLOP/s", "vs MatMul", "best s"]),
  );
  const line = (name: string, xs: number[], f = flops) => {
    const s = median(xs);
    console.log(
      row([
        name,
        s.toFixed(3),
        (tokens / s).toFixed(0),
        (f / s / 1e9).toFixed(1),
        (f / s / 1e9 / baseRate).toFixed(2),
        `(${Math.min(...xs).toFixed(3)})`,
      ]),
    );
  };
  line("forward, per-layer graphs (logits)", times.perLayer);
  line("forward, per-layer graphs (logits + hidden)", times.perLayerHidden);
  line("forward, whole-model graph (logits)", times.whole);
  console.log(
    row([
      "plain ORT MatMul, same sizes (baseline)",
      baseSeconds.toFixed(3),
      "",
      baseRate.toFixed(1),
      "1.00",
      `(${Math.min(...times.base).toFixed(3)})`,
    ]),
  );
  console.log(`baseline layout: ${baseline.layout}`);
  console.log(
    `forward FLOPs: ${(flops / 1e9).toFixed(1)} GFLOP (of which MatMul-equivalent linear: ${(baseline.flops / 1e9).toFixed(1)})`,
  );
  // The ratio within each run (the forward and the baseline measured back to back), then its median: less
  // sensitive to load that changes over minutes than the ratio of the medians.
  const perRun = times.perLayer.map((t, r) => flops / t / (baseline.flops / times.base[r]!));
  console.log(
    `ratio per-layer forward / MatMul baseline: ${(flops / perLayer / 1e9 / baseRate).toFixed(2)} (ratio of medians), ` +
      `${median(perRun).toFixed(2)} (median of per-run ratios) (target >= 0.6)`,
  );

  // Generation: batch 8, 32-token prompts, 32 new tokens, greedy, EOS disabled so every row runs to the limit.
  const prompts = rows.map((r) => r.slice(0, 32));
  const newTokens = args.quick ? 8 : 32;
  const gen = (useCache: boolean) =>
    model.generate(prompts, { maxNewTokens: newTokens, eosTokenIds: [], useCache });
  const genRuns = Math.max(1, Math.min(runs, 2));
  const cached = await timeIt(genRuns, () => gen(true));
  const uncached = await timeIt(1, () => gen(false));
  const generated = BATCH * newTokens;
  console.log(`\ngeneration: batch ${BATCH}, prompt 32, ${newTokens} new tokens per row (greedy)`);
  console.log(row(["case", "seconds", "new tokens/s"]));
  console.log(row(["with KV cache", cached.toFixed(2), (generated / cached).toFixed(1)]));
  console.log(
    row(["without cache (full recomputation)", uncached.toFixed(2), (generated / uncached).toFixed(1)]),
  );
  console.log(`cache speed-up: ${(uncached / cached).toFixed(1)}×`);
  await sessions.release();
}

await main();
