/**
 * Training-step benchmark on the ~110M Llama config of bench/model at batch 8 × 256 tokens: full fine-tuning
 * and LoRA r = 32 on all seven linear modules, each a masked-NLL step (forward keeping layer inputs, loss head,
 * backward with per-layer recomputation) plus the AdamW update, against the forward pass and plain ORT MatMuls
 * of the same sizes measured in the same run. Prints tokens/s, achieved GFLOP/s, the ratios the gradient issue
 * targets, the optimizer's share of a step and the peak RSS of a LoRA step (measured in a child process of its
 * own, so that nothing else this script allocates counts). Medians of several runs.
 *
 *   pnpm exec tsx bench/train/run.ts [--threads N] [--runs N] [--quick] [--profile]
 *
 * --profile adds one more full and one more LoRA step, timed by part: each graph kind's session runs, the host
 * work between them, the gradient norm and AdamW.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  leftPad,
  MemoryTensorSource,
  Model,
  type ort,
  SessionCache,
  type TokenBatch,
} from "../../packages/model/src/index.js";
import {
  AdamW,
  clipScale,
  globalGradNorm,
  HEAD_CHUNK_VALUES,
  ParameterSet,
  type TrainableSpec,
  TrainingStep,
} from "../../packages/trainer/src/index.js";
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
} from "../model/llama-110m.js";

const { values: args } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    quick: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "memory-only": { type: "string" },
  },
});
const threads = Number(args.threads);
const runs = Number(args.runs);
const BATCH = 8;
const SEQ = args.quick ? 64 : 256;
const LORA: TrainableSpec = {
  lora: {
    r: 32,
    alpha: 32,
    seed: 1,
    targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  },
};
const FULL: TrainableSpec = { select: /.*/ };
/** WMDP RMU's trainable set: down_proj of layers 5–7, the loss on the residual stream after layer 7. */
const RMU: TrainableSpec = { select: /model\.layers\.(5|6|7)\.mlp\.down_proj\.weight/ };
const RMU_LAYER = 7;
const sessionOptions = {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: "all" as const,
};

interface Trainer {
  params: ParameterSet;
  engine: TrainingStep;
  adam: AdamW;
}

/** The engine uses its own sessions: the model's options without ORT's per-session arenas. */
function makeTrainer(model: Model, spec: TrainableSpec): Trainer {
  const params = new ParameterSet(model, spec);
  const engine = new TrainingStep(model, params);
  const adam = new AdamW(params.params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  return { params, engine, adam };
}

function lossInputs(batch: TokenBatch, rows: number[][]) {
  const labels = new BigInt64Array(batch.batch * batch.seq);
  const cot = new Float32Array(batch.batch * batch.seq);
  const count = batch.batch * (batch.seq - 1);
  rows.forEach((r, b) => {
    for (let k = 0; k + 1 < r.length; k++) {
      labels[b * batch.seq + k] = BigInt(r[k + 1]!);
      cot[b * batch.seq + k] = -1 / count;
    }
  });
  return { labels, cot };
}

/** An RMU-style step: forward to layer 7, an MSE-like cotangent on its output, backward to layer 5, AdamW. */
async function rmuStep(t: Trainer, batch: TokenBatch) {
  const t0 = performance.now();
  t.params.zeroGrads();
  const pass = await t.engine.forward(batch, { kind: "hidden", layer: RMU_LAYER });
  const h = pass.hidden!;
  const cot = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) cot[i] = (2 * (h[i]! - 0.1)) / h.length;
  await t.engine.backward(pass, { hidden: cot });
  t.adam.step(5e-5);
  return (performance.now() - t0) / 1000;
}

/** Seconds of one training step, by phase. */
interface StepTimes {
  /** zeroGrads + forward + backward */
  gradient: number;
  norm: number;
  adamw: number;
}

/**
 * One step: zero grads, forward and backward, clip, AdamW, each phase timed. A masked mean NLL's cotangents are
 * known before the forward pass, so it takes the trainer's one-pass head (`forwardBackward`), as the objective
 * does for SFT and the retain terms.
 */
async function trainStep(
  t: Trainer,
  batch: TokenBatch,
  labels: BigInt64Array,
  cot: Float32Array,
): Promise<StepTimes> {
  const t0 = performance.now();
  t.params.zeroGrads();
  await t.engine.forwardBackward(batch, { kind: "logits", labels }, { tokenLogprobs: cot });
  const t1 = performance.now();
  const norm = globalGradNorm(t.params.params);
  const t2 = performance.now();
  t.adam.step(1e-5, clipScale(norm, 1.0));
  const t3 = performance.now();
  return { gradient: (t1 - t0) / 1000, norm: (t2 - t1) / 1000, adamw: (t3 - t2) / 1000 };
}

const optimizerSeconds = (s: StepTimes) => s.norm + s.adamw;
const stepSeconds = (s: StepTimes) => s.gradient + optimizerSeconds(s);

/** Bench-only instrumentation: time every session run of `cache` by graph kind (into the returned map). */
function timeSessionRuns(cache: SessionCache): Map<string, number> {
  const times = new Map<string, number>();
  const wrapped = new WeakSet<object>();
  const get = cache.get.bind(cache);
  cache.get = async (req) => {
    const compiled = await get(req);
    const session = compiled.session;
    if (!wrapped.has(session)) {
      wrapped.add(session);
      const label = req.kind + (req.training && !req.training.inputGrad ? " (no ∂input)" : "");
      const run = session.run.bind(session) as (...a: unknown[]) => Promise<ort.InferenceSession.ReturnType>;
      session.run = (async (...a: unknown[]) => {
        const t0 = performance.now();
        const out = await run(...a);
        times.set(label, (times.get(label) ?? 0) + (performance.now() - t0) / 1000);
        return out;
      }) as typeof session.run;
    }
    return compiled;
  };
  return times;
}

/** One step timed by part: the session runs by graph kind, the host work between them, the norm, AdamW. */
async function profiledStep(
  t: Trainer,
  runs: Map<string, number>,
  batch: TokenBatch,
  labels: BigInt64Array,
  cot: Float32Array,
): Promise<Map<string, number>> {
  runs.clear();
  const step = await trainStep(t, batch, labels, cot);
  const parts = new Map(runs);
  const inRuns = [...runs.values()].reduce((a, b) => a + b, 0);
  parts.set("host work between runs", step.gradient - inRuns);
  parts.set("gradient norm", step.norm);
  parts.set("AdamW", step.adamw);
  parts.set("total", stepSeconds(step));
  return parts;
}

function rowsOf(): number[][] {
  return Array.from({ length: BATCH }, (_, b) =>
    Array.from({ length: SEQ }, (_, t) => (b * 131 + t * 7919) % V),
  );
}

async function loadModel(sessions: SessionCache): Promise<Model> {
  const checkpoint = randomCheckpoint();
  const model = await Model.create(config, new MemoryTensorSource(checkpoint), { sessionCache: sessions });
  checkpoint.clear();
  return model;
}

/** Child mode: two LoRA steps, then print the peak RSS and the parts of the memory budget. */
async function memoryOnly(spec: TrainableSpec): Promise<void> {
  const sessions = new SessionCache(sessionOptions);
  const model = await loadModel(sessions);
  const rss0 = process.memoryUsage().rss;
  const t = makeTrainer(model, spec);
  const rows = rowsOf();
  const batch = leftPad(rows, model.padId, V);
  const { labels, cot } = lossInputs(batch, rows);
  for (let i = 0; i < 2; i++) await trainStep(t, batch, labels, cot);
  const mib = (b: number) => b / 2 ** 20;
  const weights = mib(
    model.weights.layers.reduce(
      (n, l) => n + Object.values(l.feeds).reduce((m, f) => m + f.data.byteLength, 0),
      0,
    ) + model.weights.embed.data.byteLength,
  );
  const optimizer = mib(t.params.size * 4 * 4); // master, grad, m, v
  const inputs = mib(L * BATCH * SEQ * D * 4);
  // The largest single run: a layer_grad recomputes q,k,v,o (4·D), scores and probs (2·H·T), gate, up and
  // silu·up (3·I) per token and holds as many gradients; the loss head holds about four [rows, T, V] tensors
  // for the rows of one chunk (HEAD_CHUNK_VALUES values each).
  const layerRun = BATCH * SEQ * 2 * (4 * D + 2 * config.numHeads * SEQ + 3 * I) * 4;
  const headRows = Math.max(1, Math.min(BATCH, Math.floor(HEAD_CHUNK_VALUES / (SEQ * V))));
  const headRun = 4 * headRows * SEQ * V * 4;
  const layer = mib(Math.max(layerRun, headRun));
  const budget = weights + optimizer + inputs + layer;
  const peak = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      peak,
      beforeTrainer: mib(rss0),
      weights,
      optimizer,
      inputs,
      layer,
      budget,
      ratio: peak / budget,
    }),
  );
}

async function main(): Promise<void> {
  console.log(
    `@lethe/trainer bench: Llama D=${D} I=${I} L=${L} V=${V} (tied), batch ${BATCH} × ${SEQ}, intraOpNumThreads=${threads}, medians of ${runs}`,
  );
  const memory = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      "--memory-only",
      "lora",
      "--threads",
      String(threads),
      ...(args.quick ? ["--quick"] : []),
    ],
    { encoding: "utf8" },
  );
  if (memory.status !== 0) throw new Error(`memory child failed: ${memory.stderr}`);
  const mem = JSON.parse(memory.stdout.trim().split("\n").at(-1)!) as Record<string, number>;

  const sessions = new SessionCache(sessionOptions);
  const model = await loadModel(sessions);
  const rows = rowsOf();
  const batch = leftPad(rows, model.padId, V);
  const { labels, cot } = lossInputs(batch, rows);
  const full = makeTrainer(model, FULL);
  const lora = makeTrainer(model, LORA);
  const rmu = makeTrainer(model, RMU);
  const baseline = await matmulBaseline(sessionOptions, BATCH, SEQ);

  // Warm-up (compiles every session), then the cases interleaved run by run.
  await model.forward(rows);
  await trainStep(full, batch, labels, cot);
  await trainStep(lora, batch, labels, cot);
  await rmuStep(rmu, batch);
  const times = {
    rmu: [] as number[],
    forward: [] as number[],
    base: [] as number[],
    full: [] as number[],
    fullOpt: [] as number[],
    lora: [] as number[],
    loraOpt: [] as number[],
  };
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await model.forward(rows);
    times.forward.push((performance.now() - t0) / 1000);
    times.base.push(await baseline.round());
    const fullStep = await trainStep(full, batch, labels, cot);
    times.full.push(stepSeconds(fullStep));
    times.fullOpt.push(optimizerSeconds(fullStep));
    const loraStep = await trainStep(lora, batch, labels, cot);
    times.lora.push(stepSeconds(loraStep));
    times.loraOpt.push(optimizerSeconds(loraStep));
    times.rmu.push(await rmuStep(rmu, batch));
  }
  await baseline.release();

  const tokens = BATCH * SEQ;
  const fwd = forwardFlops(BATCH, SEQ);
  const baseRate = baseline.flops / median(times.base) / 1e9;
  console.log(
    `\nfull: ${(full.params.size / 1e6).toFixed(1)}M trainable; LoRA r=32: ${(lora.params.size / 1e6).toFixed(2)}M trainable`,
  );
  console.log(
    row(["case (median; best of the runs last)", "seconds", "tokens/s", "GFLOP/s", "vs MatMul", "best s"]),
  );
  const line = (name: string, xs: number[], flops: number) => {
    const s = median(xs);
    console.log(
      row([
        name,
        s.toFixed(3),
        (tokens / s).toFixed(0),
        (flops / s / 1e9).toFixed(1),
        (flops / s / 1e9 / baseRate).toFixed(2),
        `(${Math.min(...xs).toFixed(3)})`,
      ]),
    );
  };
  line("forward, per-layer graphs (logits)", times.forward, fwd);
  line("full step (4× forward FLOPs)", times.full, 4 * fwd);
  line("LoRA r=32 step (3× forward FLOPs)", times.lora, 3 * fwd);
  // Forward through layers 0–7, recompute and backward through 5–7 (dX and dW for down_proj only).
  const layerFlops = (fwd - 2 * tokens * V * D) / L;
  line("RMU step: down_proj 5–7, loss at layer 7", times.rmu, (RMU_LAYER + 1 + 3 * 3) * layerFlops);
  console.log(
    row([
      "plain ORT MatMul, same sizes (baseline)",
      median(times.base).toFixed(3),
      "",
      baseRate.toFixed(1),
      "1.00",
      `(${Math.min(...times.base).toFixed(3)})`,
    ]),
  );

  // Ratios within each run, then their median (less sensitive to load that drifts over minutes).
  const runsOf = (f: (r: number) => number) => times.full.map((_, r) => f(r));
  const perRun = (f: (r: number) => number) => median(runsOf(f));
  const spread = (f: (r: number) => number) => {
    const xs = runsOf(f);
    return `runs ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  };
  const fullVsForwardOf = (r: number) => times.full[r]! / times.forward[r]!;
  const loraVsFullOf = (r: number) => times.lora[r]! / times.full[r]!;
  const fullVsForward = perRun(fullVsForwardOf);
  const fullVsMatmul = perRun((r) => (4 * fwd) / times.full[r]! / (baseline.flops / times.base[r]!));
  const loraVsFull = perRun(loraVsFullOf);
  const optShare = perRun((r) => times.fullOpt[r]! / times.full[r]!);
  console.log("\nratios (median of per-run ratios):");
  console.log(
    `  full step / forward:               ${fullVsForward.toFixed(2)}  (target ≤ 4.5; ${spread(fullVsForwardOf)})`,
  );
  console.log(`  full-step GFLOP/s / MatMul:        ${fullVsMatmul.toFixed(2)}  (target ≥ 0.7)`);
  console.log(
    `  LoRA step / full step:             ${loraVsFull.toFixed(2)}  (target ≤ 0.8; ${spread(loraVsFullOf)})`,
  );
  console.log(
    `  optimizer share of a full step:    ${(100 * optShare).toFixed(1)} %  (target ≤ 10 %; ${median(times.fullOpt).toFixed(3)} s)`,
  );
  console.log(
    `  optimizer share of a LoRA step:    ${(100 * median(times.lora.map((t, r) => times.loraOpt[r]! / t))).toFixed(1)} %`,
  );
  console.log(
    `\nLoRA step peak RSS: ${mem["peak"]!.toFixed(0)} MiB = ${mem["ratio"]!.toFixed(2)}× the budget ${mem["budget"]!.toFixed(0)} MiB ` +
      `(f32 weights ${mem["weights"]!.toFixed(0)} + optimizer ${mem["optimizer"]!.toFixed(0)} + kept layer inputs ${mem["inputs"]!.toFixed(0)} + the largest run's activations ${mem["layer"]!.toFixed(0)}) (target ≤ 2×)`,
  );
  console.log(
    `sessions compiled: ${sessions.stats.compiled} for the forward, ${full.engine.sessions.stats.compiled} for training`,
  );
  if (args.profile) {
    const sessionRuns = timeSessionRuns(full.engine.sessions);
    const fullParts = await profiledStep(full, sessionRuns, batch, labels, cot);
    const loraParts = await profiledStep(lora, sessionRuns, batch, labels, cot);
    console.log("\none step by part (seconds)");
    console.log(row(["part", "full step", "LoRA step"]));
    const tail = ["host work between runs", "gradient norm", "AdamW", "total"];
    const kinds = [...new Set([...fullParts.keys(), ...loraParts.keys()])].filter((k) => !tail.includes(k));
    for (const part of [...kinds, ...tail]) {
      const cell = (m: Map<string, number>) => (m.has(part) ? m.get(part)!.toFixed(3) : "–");
      console.log(row([part, cell(fullParts), cell(loraParts)]));
    }
  }
  await sessions.release();
  await full.engine.sessions.release();
}

if (args["memory-only"]) await memoryOnly(args["memory-only"] === "full" ? FULL : LORA);
else await main();
