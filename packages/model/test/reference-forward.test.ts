import { describe, expect, it } from "vitest";
import {
  applyRope,
  argmax,
  layerNorm,
  logSoftmax,
  positionIdsFromMask,
  referenceForward,
  referenceGenerate,
  referenceLogProbs,
  rmsNorm,
  ropeInvFreq,
  softmax,
  type Weights,
} from "./reference/forward64.js";
import { randomWeights, tinyConfig } from "./reference/tiny-models.js";

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(tol);
};
const V = 11;
const D = 8;
const rowOf = (flat: Float64Array, t: number, width: number) => flat.subarray(t * width, (t + 1) * width);

describe("building blocks, checked by hand", () => {
  it("RMSNorm: w * x / sqrt(mean(x^2) + eps)", () => {
    // mean(3², 4²) = 12.5
    close(rmsNorm([3, 4], [1, 2], 0), [3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)]);
    close(rmsNorm([3, 4], [1, 1], 0.5), [3 / Math.sqrt(13), 4 / Math.sqrt(13)]);
  });

  it("OLMo LayerNorm: no weights, biased variance, eps 1e-5", () => {
    // mean 2.5, variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
    const s = Math.sqrt(1.25 + 1e-5);
    close(layerNorm([1, 2, 3, 4]), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
  });

  it("softmax sums to 1 and gives masked entries 0", () => {
    const p = softmax([1, 2, 3, 1000], (j) => j < 3);
    expect(p[3]).toBe(0);
    expect(p[0]! + p[1]! + p[2]!).toBeCloseTo(1, 14);
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const z = e[0]! + e[1]! + e[2]!;
    close(p.subarray(0, 3), [e[0]! / z, e[1]! / z, e[2]! / z]);
    const lp = logSoftmax([0.5, -1, 2]);
    expect(Math.exp(lp[0]!) + Math.exp(lp[1]!) + Math.exp(lp[2]!)).toBeCloseTo(1, 14);
  });

  it("RoPE rotates the pairs (i, i + d/2) by pos * inv_freq[i]", () => {
    const inv = [1, 0.01];
    // Unit vector on coordinate 0 at position 2: (cos 2, 0, sin 2, 0).
    close(applyRope([1, 0, 0, 0], 2, inv), [Math.cos(2), 0, Math.sin(2), 0]);
    // Coordinate 3 is the second half of pair 1: rotate_half puts -x3 into slot 1.
    close(applyRope([0, 0, 0, 1], 3, inv), [0, -Math.sin(0.03), 0, Math.cos(0.03)]);
    // Position 0 is the identity; rotations compose; dot products depend on relative position only.
    close(applyRope([1, 2, 3, 4], 0, inv), [1, 2, 3, 4]);
    close(applyRope(applyRope([1, 2, 3, 4], 2, inv), 5, inv), applyRope([1, 2, 3, 4], 7, inv));
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);
    const q = [0.3, -1, 2, 0.5];
    const k = [1, 0.2, -0.7, 2];
    expect(dot(applyRope(q, 9, inv), applyRope(k, 4, inv))).toBeCloseTo(
      dot(applyRope(q, 5, inv), applyRope(k, 0, inv)),
      12,
    );
  });

  it("inv_freq: default, linear and llama3 scaling", () => {
    const base = (d: number) => Array.from({ length: d / 2 }, (_, i) => 10000 ** (-(2 * i) / d));
    close(ropeInvFreq({ rope_theta: 10000 }, 8), [1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75]);
    close(
      ropeInvFreq({ rope_theta: 10000, rope_scaling: { type: "linear", factor: 4 } }, 8),
      base(8).map((f) => f / 4),
    );
    close(
      ropeInvFreq({ rope_theta: 10000, rope_scaling: { rope_type: "linear", factor: 2 } }, 8),
      base(8).map((f) => f / 2),
    );

    // llama3 with original context 64, low 1, high 4: wavelengths 2π/f for d=8 are 6.28, 62.8, 628, 6283.
    // 6.28 < 64/4 = 16 keeps f; 62.8 lies in [16, 64] and is blended; 628 and 6283 > 64 are divided by 8.
    const scaling = {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    };
    const f = base(8);
    const smooth = (64 / ((2 * Math.PI) / f[1]!) - 1) / (4 - 1);
    const blended = (1 - smooth) * (f[1]! / 8) + smooth * f[1]!;
    close(
      ropeInvFreq({ rope_theta: 10000, rope_scaling: scaling }, 8),
      [1, blended, f[2]! / 8, f[3]! / 8],
      1e-15,
    );
    expect(() => ropeInvFreq({ rope_theta: 10000, rope_scaling: { type: "yarn", factor: 2 } }, 8)).toThrow(
      'rope scaling type "yarn" is not supported',
    );
  });

  it("position ids count from the first real token", () => {
    expect(positionIdsFromMask([0, 0, 1, 1, 1])).toEqual([1, 1, 0, 1, 2]);
    expect(positionIdsFromMask([1, 1])).toEqual([0, 1]);
  });
});

describe("the forward pass", () => {
  it("with all layer weights zero, logits are the final norm of the embedding times lm_head", () => {
    const config = tinyConfig("llama", { layers: 1, tied: true });
    const w = randomWeights("llama", { layers: 1, tied: true }, 3);
    for (const name of ["self_attn.o_proj", "mlp.down_proj"])
      w.set(
        `model.layers.0.${name}.weight`,
        new Float64Array(w.get(`model.layers.0.${name}.weight`)!.length),
      );
    const out = referenceForward(config, w, [[4, 7]]);
    const E = w.get("model.embed_tokens.weight")!;
    const norm = w.get("model.norm.weight")!;
    [4, 7].forEach((id, t) => {
      const e = E.subarray(id * D, (id + 1) * D);
      close(rowOf(out.hidden.layers[0]![0]!, t, D), e);
      const h = rmsNorm(e, norm, 1e-6);
      const expected = Array.from({ length: V }, (_, v) => h.reduce((s, x, i) => s + x * E[v * D + i]!, 0));
      close(rowOf(out.logits[0]!, t, V), expected, 1e-12);
    });
  });

  for (const arch of ["llama", "olmo", "qwen2"] as const) {
    it(`${arch}: causal (a prefix's outputs ignore later tokens) and padding-invariant`, () => {
      const config = tinyConfig(arch);
      const w = randomWeights(arch, {}, 5);
      const long = [3, 9, 2, 7, 5];
      const full = referenceForward(config, w, [long]);
      const prefix = referenceForward(config, w, [long.slice(0, 3)]);
      close(full.logits[0]!.subarray(0, 3 * V), prefix.logits[0]!, 1e-12);

      // Row 0 is left-padded by 2 next to row 1; its real positions match the unpadded run.
      const batch = referenceForward(config, w, [long.slice(0, 3), long]);
      expect(batch.padding).toEqual([2, 0]);
      expect(batch.positionIds[0]).toEqual([1, 1, 0, 1, 2]);
      close(batch.logits[0]!.subarray(2 * V), prefix.logits[0]!, 1e-12);
      close(batch.logits[1]!, full.logits[0]!, 1e-12);
      for (let l = 0; l < 2; l++)
        close(batch.hidden.layers[l]![0]!.subarray(2 * D), prefix.hidden.layers[l]![0]!, 1e-12);
      for (const x of batch.logits[0]!) expect(Number.isFinite(x)).toBe(true);
    });
  }

  it("GQA: one shared KV head equals two heads with duplicated K/V weights", () => {
    const shared = randomWeights("llama", { kvHeads: 1 }, 7);
    const dup: Weights = new Map(shared);
    for (let l = 0; l < 2; l++) {
      for (const m of ["k_proj", "v_proj"]) {
        const name = `model.layers.${l}.self_attn.${m}.weight`;
        const kv = shared.get(name)!; // [4, 8]
        const both = new Float64Array(kv.length * 2);
        both.set(kv, 0);
        both.set(kv, kv.length);
        dup.set(name, both);
      }
    }
    const a = referenceForward(tinyConfig("llama", { kvHeads: 1 }), shared, [[1, 4, 6, 2]]);
    const b = referenceForward(tinyConfig("llama", { kvHeads: 2 }), dup, [[1, 4, 6, 2]]);
    close(a.logits[0]!, b.logits[0]!, 1e-12);
  });

  it("tied embeddings equal an untied lm_head holding a copy of the embeddings", () => {
    const tied = randomWeights("qwen2", { tied: true }, 9);
    const untied: Weights = new Map(tied);
    untied.set("lm_head.weight", Float64Array.from(tied.get("model.embed_tokens.weight")!));
    const a = referenceForward(tinyConfig("qwen2", { tied: true }), tied, [[5, 1, 8]]);
    const b = referenceForward(tinyConfig("qwen2", { tied: false }), untied, [[5, 1, 8]]);
    close(a.logits[0]!, b.logits[0]!, 0);
    expect(() => referenceForward(tinyConfig("qwen2", { tied: false }), tied, [[5]])).toThrow(
      'missing tensor "lm_head.weight"',
    );
  });

  it("qwen2 uses the q/k/v biases and requires them", () => {
    const w = randomWeights("qwen2", {}, 11);
    const zeroBias: Weights = new Map(w);
    for (const [name, t] of w) if (name.endsWith(".bias")) zeroBias.set(name, new Float64Array(t.length));
    const a = referenceForward(tinyConfig("qwen2"), w, [[2, 3, 4]]);
    const b = referenceForward(tinyConfig("qwen2"), zeroBias, [[2, 3, 4]]);
    expect(Math.max(...a.logits[0]!.map((x, i) => Math.abs(x - b.logits[0]![i]!)))).toBeGreaterThan(1e-3);
    const missing: Weights = new Map(w);
    missing.delete("model.layers.1.self_attn.k_proj.bias");
    expect(() => referenceForward(tinyConfig("qwen2"), missing, [[2]])).toThrow(
      'missing tensor "model.layers.1.self_attn.k_proj.bias"',
    );
  });

  it("olmo clip_qkv: a huge bound changes nothing; a tiny one silences attention", () => {
    const w = randomWeights("olmo", { layers: 1 }, 13);
    const ids = [[3, 8, 1]];
    const free = referenceForward(tinyConfig("olmo", { layers: 1 }), w, ids);
    const loose = referenceForward(tinyConfig("olmo", { layers: 1 }, { clip_qkv: 1e9 }), w, ids);
    close(free.logits[0]!, loose.logits[0]!, 0);
    // With |q|,|k|,|v| <= 1e-12 the attention output is ~0, so layer 0 adds only the MLP of LayerNorm(x).
    const tight = referenceForward(tinyConfig("olmo", { layers: 1 }, { clip_qkv: 1e-12 }), w, ids);
    const E = w.get("model.embed_tokens.weight")!;
    const gate = w.get("model.layers.0.mlp.gate_proj.weight")!;
    const up = w.get("model.layers.0.mlp.up_proj.weight")!;
    const down = w.get("model.layers.0.mlp.down_proj.weight")!;
    const F = 12;
    ids[0]!.forEach((id, t) => {
      const x = E.subarray(id * D, (id + 1) * D);
      const h = layerNorm(x);
      const act = Array.from({ length: F }, (_, f) => {
        const g = h.reduce((s, v, i) => s + v * gate[f * D + i]!, 0);
        const u = h.reduce((s, v, i) => s + v * up[f * D + i]!, 0);
        return (g / (1 + Math.exp(-g))) * u;
      });
      const expected = Array.from(
        { length: D },
        (_, e) => x[e]! + act.reduce((s, a, f) => s + a * down[e * F + f]!, 0),
      );
      close(rowOf(tight.hidden.layers[0]![0]!, t, D), expected, 1e-9);
    });
  });

  it("LoRA on a projection equals merging W + s * B A into the weight", () => {
    const w = randomWeights("llama", {}, 17);
    const module = "model.layers.1.self_attn.v_proj";
    const r = 2;
    const A = Float64Array.from({ length: r * D }, (_, i) => Math.sin(i + 1) * 0.5);
    const B = Float64Array.from({ length: 4 * r }, (_, i) => Math.cos(i + 2) * 0.5);
    const s = 1.5;
    const merged: Weights = new Map(w);
    const W = w.get(`${module}.weight`)!;
    merged.set(
      `${module}.weight`,
      Float64Array.from(W, (x, idx) => {
        const o = Math.floor(idx / D);
        const i = idx % D;
        let ba = 0;
        for (let k = 0; k < r; k++) ba += B[o * r + k]! * A[k * D + i]!;
        return x + s * ba;
      }),
    );
    const ids = [[2, 9, 4, 4]];
    const viaLora = referenceForward(tinyConfig("llama"), w, ids, {
      lora: { scaling: s, modules: new Map([[module, { A, B }]]) },
    });
    const viaMerge = referenceForward(tinyConfig("llama"), merged, ids);
    close(viaLora.logits[0]!, viaMerge.logits[0]!, 1e-12);
  });

  it("log-probs are the log-softmax at the next token, per row despite padding", () => {
    const config = tinyConfig("llama");
    const w = randomWeights("llama", {}, 19);
    const rows = [
      [4, 2, 9],
      [1, 2, 3, 4, 5],
    ];
    const lp = referenceLogProbs(config, w, rows);
    expect(lp.map((r) => r.length)).toEqual([2, 4]);
    const single = referenceForward(config, w, [rows[0]!]).logits[0]!;
    const expected = [rowOf(single, 0, V), rowOf(single, 1, V)].map((logits, t) => {
      const z = logits.reduce((s, x) => s + Math.exp(x), 0);
      return Math.log(Math.exp(logits[rows[0]![t + 1]!]!) / z);
    });
    close(lp[0]!, expected, 1e-12);
  });

  it("greedy generation follows a planted successor chain and stops at eos", () => {
    // One zero layer: the logits are norm(embed(x)) · lm_headᵀ. With one-hot embeddings and lm_head row j
    // equal to the embedding of token j − 1, token i always predicts i + 1.
    const config = tinyConfig("llama", { layers: 1, tied: false });
    const w = randomWeights("llama", { layers: 1 }, 23);
    for (const [name, t] of w)
      if (name.startsWith("model.layers.0.") && !name.includes("norm"))
        w.set(name, new Float64Array(t.length));
    w.set("model.norm.weight", new Float64Array(D).fill(1));
    const E = new Float64Array(V * D);
    for (let v = 0; v < V; v++) E[v * D + (v % D)] = v < D ? 1 : -1;
    w.set("model.embed_tokens.weight", E);
    const head = new Float64Array(V * D);
    for (let j = 1; j < V; j++) head.set(E.subarray((j - 1) * D, j * D), j * D);
    w.set("lm_head.weight", head);
    expect(referenceGenerate(config, w, [[2], [5, 3]], 3, 0)).toEqual([
      [3, 4, 5],
      [4, 5, 6],
    ]);
    // Token 6 predicts 7; make 7 the eos id: generation stops right after emitting it.
    expect(referenceGenerate(config, w, [[5]], 5, 7)).toEqual([[6, 7]]);
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });
});
