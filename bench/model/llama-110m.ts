/**
 * The ~110M-parameter Llama config the model and training benchmarks share, its random bf16 checkpoint, its
 * forward FLOPs, and the plain-ORT MatMul baseline of the same sizes.
 */
import { type Tensor, tensorFromFloat32 } from "@lethe/core";
import {
  compileGraph,
  Graph,
  globalParams,
  layerParams,
  layerPrefix,
  ops,
  ort,
  parseConfig,
  type SessionOptions,
} from "../../packages/model/src/index.js";

export const rawConfig = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: 32000,
  hidden_size: 768,
  intermediate_size: 2048,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_key_value_heads: 12,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  eos_token_id: 2,
  pad_token_id: 0,
};
export const config = parseConfig(rawConfig);
export const { hiddenSize: D, intermediateSize: I, vocabSize: V, numLayers: L } = config;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

let seed = 12345;
export function randomValues(n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    out[i] = (seed / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

export function randomCheckpoint(): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  const add = (name: string, shape: number[], norm: boolean) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = norm ? new Float32Array(n).fill(1) : randomValues(n, 0.03);
    tensors.set(name, tensorFromFloat32(values, shape, "BF16"));
  };
  for (const s of globalParams(config)) add(s.name, s.shape, !s.matmul);
  for (let i = 0; i < L; i++)
    for (const s of layerParams(config)) add(layerPrefix(i) + s.name, s.shape, !s.matmul);
  return tensors;
}

/** Forward FLOPs: 2·tokens·(linear params + lm_head) + 4·B·T²·D per layer for QKᵀ and PV (full, unmasked). */
export function forwardFlops(batch: number, seq: number): number {
  const tokens = batch * seq;
  const perLayer = 4 * D * D + 3 * D * I;
  return 2 * tokens * (L * perLayer + V * D) + L * 4 * batch * seq * seq * D;
}

export interface Baseline {
  /** One round: every MatMul shape as many times as one forward runs it; returns the seconds. */
  round(): Promise<number>;
  flops: number;
  layout: string;
  release(): Promise<void>;
}

/**
 * Plain ORT MatMuls with the sizes of the model's linear layers and lm_head: [M, K]·[K, N] with M = batch·seq.
 * The weight is an input (as in the model) in the faster of two layouts, measured first: [K, N], or nn.Linear's
 * [N, K] through a Transpose (which ORT fuses into its MatMul).
 */
export async function matmulBaseline(
  sessionOptions: SessionOptions,
  batch: number,
  seq: number,
): Promise<Baseline> {
  const M = batch * seq;
  // [K, N] and how many times one forward runs it.
  const shapes: [number, number, number][] = [
    [D, D, 4 * L],
    [D, I, 2 * L],
    [I, D, L],
    [D, V, 1],
  ];
  const build = async (K: number, N: number, transposed: boolean) => {
    const g = new Graph("matmul");
    const b = g.input("b", "float32", transposed ? [N, K] : [K, N]);
    g.output(ops.matmul(g.input("a", "float32", [M, K]), transposed ? ops.transpose(b, [1, 0]) : b), "c");
    const { session } = await compileGraph(g, sessionOptions);
    const feeds = {
      a: new ort.Tensor("float32", randomValues(M * K, 1), [M, K]),
      b: new ort.Tensor("float32", randomValues(K * N, 0.03), transposed ? [N, K] : [K, N]),
    };
    await session.run(feeds); // warm-up
    return { session, feeds };
  };
  // Pick the layout on the FFN shape, alternating the two so that load hits both alike.
  const plain = await build(D, I, false);
  const fused = await build(D, I, true);
  const tPlain: number[] = [];
  const tFused: number[] = [];
  for (let i = 0; i < 5; i++) {
    for (const [c, into] of [
      [plain, tPlain],
      [fused, tFused],
    ] as const) {
      const t0 = performance.now();
      await c.session.run(c.feeds);
      into.push(performance.now() - t0);
    }
  }
  const transposed = median(tFused) < median(tPlain);
  await plain.session.release();
  await fused.session.release();

  const cases: { session: ort.InferenceSession; feeds: Record<string, ort.Tensor>; count: number }[] = [];
  let flops = 0;
  for (const [K, N, count] of shapes) {
    cases.push({ ...(await build(K, N, transposed)), count });
    flops += 2 * M * K * N * count;
  }
  return {
    flops,
    layout: transposed
      ? `weight [N,K] via Transpose (median ${median(tFused).toFixed(0)} ms vs ${median(tPlain).toFixed(0)} ms for [K,N])`
      : `weight [K,N] (median ${median(tPlain).toFixed(0)} ms vs ${median(tFused).toFixed(0)} ms for [N,K] via Transpose)`,
    async round() {
      let seconds = 0;
      for (const c of cases) {
        for (let k = 0; k < c.count; k++) {
          const t0 = performance.now();
          await c.session.run(c.feeds);
          seconds += (performance.now() - t0) / 1000;
        }
      }
      return seconds;
    },
    async release() {
      for (const c of cases) await c.session.release();
    },
  };
}

export function row(cells: (string | number)[]): string {
  return cells.map((c, i) => String(c).padEnd(i === 0 ? 44 : 14)).join("");
}
