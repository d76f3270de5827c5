/**
 * The fused bf16 kernel (WebAssembly SIMD) against the generic one, bit for bit and statistic for statistic,
 * on inputs with ties, zeros, negative weights, cancellations, subnormals and values near the bf16 maximum.
 * Counts must match exactly; sums of squares are accumulated per SIMD lane, so they are compared to rounding.
 */
import { describe, expect, it } from "vitest";
import { mergeGtaTensor } from "../src/engine/gta-tensor.js";
import { InlineRunner } from "../src/engine/runner.js";
import { type BlockSelection, type BlockStats, mergeBlock, scanMagnitudes } from "../src/kernels/gta.js";
import { fastPathApplies, mergeBlockBf16, scanMagnitudesBf16 } from "../src/kernels/gta-bf16.js";
import { bf16Job } from "./helpers/jobs.js";
import { refRound } from "./helpers/reference.js";
import { raw, rng } from "./helpers/tensors.js";

const N = 6000;

function inputs(models: number, seed: number, kind: "normal" | "tiny" | "huge") {
  const r = rng(seed);
  const scale = kind === "tiny" ? 2 ** -130 : kind === "huge" ? 2 ** 126 : 0.05;
  const base = Array.from({ length: N }, () => refRound((r() - 0.5) * scale, "BF16"));
  const fts = Array.from({ length: models }, () =>
    base.map((b, j) => {
      if (j % 13 === 0) return b; // zero delta
      const step = kind === "tiny" ? 2 ** -133 : Math.abs(b) * 2 ** -6 || 2 ** -20;
      return refRound(b + (Math.floor(r() * 9) - 4) * step, "BF16");
    }),
  );
  return { base, fts };
}

async function both(
  method: string,
  models: { weight: number; density: number }[],
  options: { normalize?: boolean; lambda?: number },
  data: ReturnType<typeof inputs>,
  blockElements = 1000,
) {
  const run = async (fastPath: boolean) => {
    const job = bf16Job(
      { method, tensor: "model.layers.0.mlp.up_proj.weight", shape: [60, 100], models, ...options },
      { base: raw(data.base, "BF16"), models: data.fts.map((f) => raw(f, "BF16")) },
    );
    job.spec.fastPath = fastPath;
    job.blockElements = blockElements;
    const out = new Uint8Array(N * 2);
    const stats = await mergeGtaTensor(job, new InlineRunner(), out);
    return { out, stats, job };
  };
  return { fast: await run(true), generic: await run(false) };
}

type TensorStats = Awaited<ReturnType<typeof mergeGtaTensor>>;

function expectSameStats(fast: TensorStats, generic: TensorStats, label: string): void {
  const norms = (s: TensorStats) => s.models.flatMap((m) => [m.l2Before, m.l2After]);
  const counts = (s: TensorStats) => ({
    ...s,
    models: s.models.map((m) => ({ ...m, l2Before: 0, l2After: 0 })),
  });
  expect(counts(fast), label).toEqual(counts(generic));
  norms(fast).forEach((x, i) => {
    expect(Math.abs(x - norms(generic)[i]!), label).toBeLessThanOrEqual(1e-12 * Math.abs(x));
  });
}

/** One block through both kernels, on bf16 values given as numbers. */
function bothBlock(
  weights: number[],
  base: number[],
  fts: number[][],
  selections: BlockSelection[],
): { fast: { out: Uint8Array; stats: BlockStats }; generic: { out: Uint8Array; stats: BlockStats } } {
  const n = base.length;
  const job = bf16Job(
    { shape: [n], models: weights.map((weight) => ({ weight, density: 1 })) },
    { base: raw(base, "BF16"), models: fts.map((f) => raw(f, "BF16")) },
  );
  const run = (fastPath: boolean) => {
    const out = new Uint8Array(n * 2);
    const stats = mergeBlock({ ...job.spec, fastPath }, job.inputs, 0, n, selections, [1, 1, 1], 1, out);
    return { out, stats };
  };
  return { fast: run(true), generic: run(false) };
}

describe("the fused bf16 kernel", () => {
  const cases: [string, { weight: number; density: number }[], { normalize?: boolean; lambda?: number }][] = [
    [
      "ties",
      [
        { weight: 0.5, density: 0.5 },
        { weight: 0.5, density: 0.5 },
      ],
      {},
    ],
    [
      "ties",
      [
        { weight: 0.3, density: 0.2 },
        { weight: 0.9, density: 0.8 },
        { weight: 0.55, density: 0.35 },
      ],
      { lambda: 1.3 },
    ],
    [
      "ties",
      [
        { weight: 1, density: 0.7 },
        { weight: -0.4, density: 0.6 },
      ],
      { normalize: false },
    ],
    [
      "ties",
      [
        { weight: 0.9, density: 0.3 },
        { weight: 0.6, density: 0.9 },
      ],
      { lambda: 0.7 },
    ],
    ["ties", Array.from({ length: 5 }, (_, i) => ({ weight: 0.1 + i * 0.2, density: 0.1 + i * 0.15 })), {}],
    [
      "task_arithmetic",
      [
        { weight: 0.7, density: 1 },
        { weight: 0.4, density: 1 },
      ],
      { lambda: 0.8 },
    ],
    [
      "task_arithmetic",
      [
        { weight: 0.7, density: 1 },
        { weight: -0.7, density: 1 },
      ],
      { normalize: true },
    ],
  ];
  for (const kind of ["normal", "tiny", "huge"] as const) {
    it(`computes what the generic kernel computes (${kind} values)`, async () => {
      for (const [k, [method, models, options]] of cases.entries()) {
        const data = inputs(models.length, 100 + k, kind);
        // 997: blocks and chunks that end inside a SIMD group of four.
        for (const blockElements of [1000, 997]) {
          const { fast, generic } = await both(method, models, options, data, blockElements);
          const label = `${method} case ${k}, blocks of ${blockElements}`;
          expect(Buffer.from(fast.out).equals(Buffer.from(generic.out)), label).toBe(true);
          expectSameStats(fast.stats, generic.stats, label);
        }
      }
    });
  }

  it("counts exactly the elements of the range in its magnitude histograms", async () => {
    const data = inputs(3, 11, "normal");
    const { fast } = await both(
      "ties",
      [0.2, 0.3, 0.4].map((density) => ({ weight: 1, density })),
      {},
      data,
    );
    const { spec, inputs: ins } = fast.job;
    // Ranges that start and end inside a SIMD group of four, and one shorter than a group.
    for (const [start, end] of [
      [0, N],
      [3, 4997],
      [1001, 1002],
      [5, 8],
    ] as const) {
      const simd = scanMagnitudesBf16(spec, ins, start, end, [2, 0])!;
      const generic = scanMagnitudes({ ...spec, fastPath: false }, ins, start, end, [2, 0]);
      expect(simd.map((h) => h.reduce((a, b) => a + b, 0))).toEqual([end - start, end - start]);
      expect(simd).toEqual(generic);
    }
  });

  it("leaves tensors with NaN or infinite deltas to the generic kernel, NaN payloads included", async () => {
    const data = inputs(2, 21, "normal");
    const models = [
      { weight: 0.5, density: 0.5 },
      { weight: 0.7, density: 0.4 },
    ];
    const run = async (bits: (ft: Uint16Array) => void, fastPath: boolean) => {
      const rawModels = data.fts.map((f) => raw(f, "BF16"));
      bits(new Uint16Array(rawModels[1]!.bytes.buffer));
      const job = bf16Job({ shape: [60, 100], models }, { base: raw(data.base, "BF16"), models: rawModels });
      job.spec.fastPath = fastPath;
      job.blockElements = 1000;
      const out = new Uint8Array(N * 2);
      const stats = await mergeGtaTensor(job, new InlineRunner(), out);
      return { out, stats, job };
    };
    const cases: [string, (ft: Uint16Array) => void][] = [
      // Quiet NaNs with payloads and either sign: X − B keeps X's payload in f32 SIMD, not in the generic kernel.
      ["NaN", (ft) => ft.set([0x7fc1, 0xffa5, 0x7f81], 4000)],
      ["+Inf and -Inf", (ft) => ft.set([0x7f80, 0xff80], 1234)],
    ];
    for (const [label, bits] of cases) {
      const fast = await run(bits, true);
      const generic = await run(bits, false);
      expect(Buffer.from(fast.out).equals(Buffer.from(generic.out)), label).toBe(true);
      expect(
        fast.stats.models.map((m) => m.kept),
        label,
      ).toEqual(generic.stats.models.map((m) => m.kept));
      expect(fast.stats.conflicts, label).toBe(generic.stats.conflicts);
      fast.stats.models.forEach((m, i) => {
        const g = generic.stats.models[i]!;
        for (const [x, y] of [
          [m.l2Before, g.l2Before],
          [m.l2After, g.l2After],
        ] as const) {
          if (Number.isFinite(y)) expect(Math.abs(x - y), label).toBeLessThanOrEqual(1e-12 * y);
          else expect(x, label).toBe(y);
        }
      });
      const { spec, inputs: ins } = fast.job;
      if (label === "NaN") expect(scanMagnitudesBf16(spec, ins, 0, N, [0, 1])).toBeNull();
    }
  });

  it("leaves NaN and infinite weighted deltas to the generic kernel (the vote on a NaN sum elects -1)", () => {
    const all: BlockSelection[] = [{ kind: "all" }, { kind: "all" }, { kind: "all" }];
    // X − B is finite in f32 (2^128 − 2^119) but rounds to +Inf in bf16; with weight 0, 0·Inf = NaN.
    const max = 3.3895313892515355e38; // the largest bf16
    const overflow = bothBlock(
      [0, 1, 1],
      [-(2 ** 119), 0],
      [
        [max, 0],
        [-(2 ** 119) + 2 ** 112, 0],
        [-(2 ** 119) - 2 ** 113, 0],
      ],
      all,
    );
    // An infinite weight (1e39 rounds to +Inf in bf16) times a zero delta.
    const infiniteWeight = bothBlock(
      [1e39, 1, 1],
      [0, 0],
      [
        [0, 0],
        [1, 0],
        [-2, 0],
      ],
      all,
    );
    for (const { fast, generic } of [overflow, infiniteWeight]) {
      expect(Buffer.from(fast.out).equals(Buffer.from(generic.out))).toBe(true);
      expect(fast.stats.agreed).toEqual(generic.stats.agreed);
    }
    expect(new Uint16Array(infiniteWeight.fast.out.buffer)[0]).toBe(0xc000); // -2: the negative side won
  });

  it("takes quotas and cut keys beyond the kernel's 32-bit integers", () => {
    const base = [0, 0, 0, 0, 0];
    const ones = [[1, 1, 1, 1, 1]];
    const unlimited = bothBlock([1], base, ones, [
      { kind: "top", key: 0x3f800000, quota: Number.MAX_SAFE_INTEGER },
    ]);
    expect(unlimited.fast.stats.kept).toEqual([5]);
    const nothing = bothBlock([1], base, ones, [{ kind: "top", key: 0x80000000, quota: 0 }]);
    expect(nothing.fast.stats.kept).toEqual([0]);
    for (const { fast, generic } of [unlimited, nothing]) {
      expect(Buffer.from(fast.out).equals(Buffer.from(generic.out))).toBe(true);
      expect(fast.stats).toEqual(generic.stats);
    }
  });

  it("takes the fused path for these cases (and not for others)", async () => {
    const data = inputs(2, 7, "normal");
    const { fast } = await both(
      "ties",
      [
        { weight: 0.5, density: 0.5 },
        { weight: 0.5, density: 0.5 },
      ],
      {},
      data,
    );
    const { spec, inputs: ins } = fast.job;
    const selections = [{ kind: "all" as const }, { kind: "all" as const }];
    expect(fastPathApplies(spec, ins, selections, [1, 1])).toBe(true);
    expect(mergeBlockBf16(spec, ins, 0, N, selections, new Uint8Array(N * 2))).not.toBeNull();
    expect(fastPathApplies(spec, ins, [{ kind: "random", p: 0.5 }, { kind: "all" }], [1, 1])).toBe(false);
    expect(fastPathApplies({ ...spec, working: "F32" }, ins)).toBe(false);
    // Agreement patterns of more than 16 models do not index a divisor table: not even the scan is fused.
    const seventeen = Array.from({ length: 17 }, (_, index) => ({ index, weight: 0.5 }));
    expect(fastPathApplies({ ...spec, models: seventeen }, ins)).toBe(false);
    expect(fastPathApplies(spec, { base: ins.base, models: [raw([1], "F32")] })).toBe(false);
  });
});
