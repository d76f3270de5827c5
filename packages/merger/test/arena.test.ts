/**
 * The tensor-memory arena: first fit, all-or-none reservations, coalescing on release, and a merge on a
 * shared worker pool that gives back every piece it took.
 */
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configFromText } from "../src/config/load.js";
import { merge, openInputs, planFor, runPlan } from "../src/execute.js";
import { mergeBlock } from "../src/kernels/gta.js";
import { KernelCall } from "../src/kernels/simd.js";
import { StatsCollector } from "../src/stats.js";
import { Arena } from "../src/workers/arena.js";
import { WorkerPool } from "../src/workers/pool.js";
import { tempDir, writeModel } from "./helpers/checkpoints.js";
import { bf16Job } from "./helpers/jobs.js";
import { refRound } from "./helpers/reference.js";
import { raw, rng } from "./helpers/tensors.js";

describe("Arena", () => {
  it("hands out disjoint, 64-byte aligned views of one shared buffer", () => {
    const arena = new Arena(4096);
    const [a, b, c] = arena.allocateAll([100, 1, 200])!;
    expect([a!.byteOffset, b!.byteOffset, c!.byteOffset]).toEqual([0, 128, 192]);
    expect([a!.byteLength, b!.byteLength, c!.byteLength]).toEqual([100, 1, 200]);
    expect(a!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a!.buffer).toBe(c!.buffer);
    expect(arena.used).toBe(128 + 64 + 256);
    a!.fill(7);
    expect(b![0]).toBe(0);
  });

  it("reserves all sizes or none", () => {
    const arena = new Arena(1024);
    expect(arena.allocateAll([512, 512, 64])).toBeNull();
    expect(arena.used).toBe(0);
    expect(arena.allocateAll([512, 512])).not.toBeNull();
    expect(arena.allocateAll([1])).toBeNull();
  });

  it("merges freed neighbours so a large piece fits again", () => {
    const arena = new Arena(1024);
    const [a, b, c, d] = arena.allocateAll([256, 256, 256, 256])!;
    arena.release(b!);
    arena.release(d!);
    expect(arena.allocateAll([512])).toBeNull(); // 256 + 256 free, but not adjacent
    arena.release(c!);
    const [big] = arena.allocateAll([768])!;
    expect(big!.byteOffset).toBe(256);
    arena.release(a!);
    arena.release(big!);
    expect(arena.used).toBe(0);
    expect(arena.allocateAll([1024])![0]!.byteOffset).toBe(0);
  });

  it("ignores views it did not hand out, and double releases", () => {
    const arena = new Arena(1024);
    const [a] = arena.allocateAll([100])!;
    arena.release(new Uint8Array(100));
    arena.release(new Uint8Array(a!.buffer, 64, 10));
    expect(arena.used).toBe(128);
    arena.release(a!);
    arena.release(a!);
    expect(arena.used).toBe(0);
    expect(arena.allocateAll([1024])).not.toBeNull();
  });
});

describe("a merge on a worker pool", () => {
  const dir = tempDir("arena");
  const pool = new WorkerPool(2);
  afterAll(() => pool.close());

  it("puts the arena in the SIMD kernels' memory, where they work in place, in this thread and in workers", async () => {
    const own = new WorkerPool(2);
    try {
      own.useArena(1 << 20);
      const n = 10_001; // blocks end inside a group of four
      const r = rng(9);
      const base = Array.from({ length: n }, () => refRound((r() - 0.5) * 0.1, "BF16"));
      const fts = [1, 2].map(() =>
        base.map((b) => refRound(b + (Math.floor(r() * 9) - 4) * 2 ** -10, "BF16")),
      );
      const plain = [raw(base, "BF16"), ...fts.map((f) => raw(f, "BF16"))];
      const inArena = own.tryAllocateAll([...plain.map((t) => t.bytes.byteLength), n * 2])!;
      plain.forEach((t, i) => {
        inArena[i]!.set(t.bytes);
      });
      const out = inArena[3]!;
      expect(KernelCall.for(inArena, 2).inPlace).toBe(true);
      expect(KernelCall.for([plain[0]!.bytes], 2).inPlace).toBe(false);

      const job = bf16Job(
        { shape: [n], models: [0.5, 0.5].map((weight) => ({ weight, density: 1 })) },
        {
          base: { ...plain[0]!, bytes: inArena[0]! },
          models: [1, 2].map((i) => ({ ...plain[i]!, bytes: inArena[i]! })),
        },
      );
      const all = [{ kind: "all" as const }, { kind: "all" as const }];
      const expected = new Uint8Array(n * 2);
      mergeBlock({ ...job.spec, fastPath: false }, job.inputs, 0, n, all, [1, 1], 1, expected);
      // Three blocks on the workers, in place, written into the arena next to the inputs.
      const bounds = [0, 4097, 8190, n];
      await own.map(
        "mergeBlock",
        [0, 1, 2].map(
          (b) => [job.spec, job.inputs, bounds[b]!, bounds[b + 1]!, all, [1, 1], 1, out] as const,
        ),
      );
      expect(Buffer.from(out).equals(Buffer.from(expected))).toBe(true);
      // In this thread too.
      out.fill(0);
      mergeBlock(job.spec, job.inputs, 0, n, all, [1, 1], 1, out);
      expect(Buffer.from(out).equals(Buffer.from(expected))).toBe(true);
      for (const view of inArena) own.release(view);
      expect(own.arenaUsed).toBe(0);
    } finally {
      await own.close();
    }
  });

  it("takes tensor memory from the arena and gives all of it back", async () => {
    const r = rng(5);
    const tensor = (name: string, shape: number[], shift: number) => ({
      name,
      dtype: "BF16" as const,
      shape,
      values: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, j) =>
        refRound(Math.sin(j) * 0.1 + shift * (r() - 0.5) * 0.01, "BF16"),
      ),
    });
    const model = (shift: number) => [
      tensor("model.layers.0.mlp.up_proj.weight", [64, 300], shift),
      tensor("model.layers.0.mlp.down_proj.weight", [300, 64], shift),
      tensor("model.layers.0.self_attn.q_proj.weight", [64, 64], shift),
    ];
    const base = await writeModel(path.join(dir, "base"), model(0));
    const a = await writeModel(path.join(dir, "a"), model(1));
    const b = await writeModel(path.join(dir, "b"), model(2));
    const { config } = configFromText(
      `merge_method: ties
base_model: ${base}
models:
  - {model: ${a}, parameters: {weight: 0.5, density: 0.5}}
  - {model: ${b}, parameters: {weight: 0.5, density: 0.5}}
`,
      "ties.yml",
    );
    let most = 0;
    const result = await merge(config, path.join(dir, "out"), {
      runner: pool,
      blockElements: 4096,
      onProgress: () => {
        most = Math.max(most, pool.arenaUsed); // while a tensor is written, its buffers are held
      },
    });
    expect(result.plan.tensors).toHaveLength(3);
    expect(most).toBeGreaterThanOrEqual(4 * 64 * 300 * 2);
    expect(most).toBeLessThanOrEqual(result.plan.memory.budgetBytes);
    expect(pool.arenaUsed).toBe(0);
    // A second merge reuses the same arena.
    await merge(config, path.join(dir, "out2"), { runner: pool, blockElements: 4096 });
    expect(pool.arenaUsed).toBe(0);
  });
});

describe("arena bindings and failures", () => {
  const n = 10_001;
  const r = rng(9);
  const base = Array.from({ length: n }, () => refRound((r() - 0.5) * 0.1, "BF16"));
  const fts = [1, 2].map(() => base.map((b) => refRound(b + (Math.floor(r() * 9) - 4) * 2 ** -10, "BF16")));
  const plain = [raw(base, "BF16"), ...fts.map((f) => raw(f, "BF16"))];
  const all = [{ kind: "all" as const }, { kind: "all" as const }];

  it("keeps two pools of the same size apart, and drops a closed pool's binding", async () => {
    const a = new WorkerPool(1);
    const b = new WorkerPool(1);
    try {
      a.useArena(1 << 20);
      const inA = a.tryAllocateAll([...plain.map((t) => t.bytes.byteLength), n * 2])!;
      plain.forEach((t, i) => {
        inA[i]!.set(t.bytes);
      });
      const out = inA[3]!;
      const job = bf16Job(
        { shape: [n], models: [0.5, 0.5].map((weight) => ({ weight, density: 1 })) },
        {
          base: { ...plain[0]!, bytes: inA[0]! },
          models: [1, 2].map((i) => ({ ...plain[i]!, bytes: inA[i]! })),
        },
      );
      const expected = new Uint8Array(n * 2);
      mergeBlock({ ...job.spec, fastPath: false }, job.inputs, 0, n, all, [1, 1], 1, expected);
      await a.map("mergeBlock", [[job.spec, job.inputs, 0, n, all, [1, 1], 1, out]]);
      expect(KernelCall.for(inA, 2).inPlace).toBe(true);

      // A second pool with an arena of the same size takes this thread's binding: A's views are no longer
      // taken for arena memory (they would be read and written at B's addresses), and A still merges right.
      b.useArena(1 << 20);
      const [inB] = b.tryAllocateAll([n * 8])!;
      inB!.fill(0x3c);
      expect(KernelCall.for(inA, 2).inPlace).toBe(false);
      out.fill(0);
      await a.map("mergeBlock", [[job.spec, job.inputs, 0, n, all, [1, 1], 1, out]]);
      expect(Buffer.from(out).equals(Buffer.from(expected))).toBe(true);
      expect(inB!.every((x) => x === 0x3c)).toBe(true);

      const inB2 = b.tryAllocateAll([...plain.map((t) => t.bytes.byteLength), n * 2])!;
      expect(KernelCall.for(inB2, 2).inPlace).toBe(true);
      await b.close();
      expect(KernelCall.for(inB2, 2).inPlace).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("fails a merge whose write fails, or whose read fails, and gives the arena back", async () => {
    const dir = tempDir("arena-failures");
    const layers = (shift: number) =>
      [0, 1, 2].map((k) => ({
        name: `model.layers.${k}.mlp.up_proj.weight`,
        dtype: "BF16" as const,
        shape: [64, 64],
        values: Array.from({ length: 4096 }, (_, j) => refRound(Math.sin(j + shift + k) * 0.1, "BF16")),
      }));
    const paths = await Promise.all([0, 1, 2].map((s) => writeModel(path.join(dir, `m${s}`), layers(s))));
    const { config } = configFromText(
      `merge_method: ties
base_model: ${paths[0]}
models:
  - {model: ${paths[1]}, parameters: {weight: 0.5, density: 0.5}}
  - {model: ${paths[2]}, parameters: {weight: 0.5, density: 0.5}}
`,
      "ties.yml",
    );
    const inputs = await openInputs(config);
    const pool = new WorkerPool(1);
    try {
      const plan = planFor(config, inputs, {});
      pool.useArena(plan.memory.budgetBytes);
      const order = plan.tensors.map((t) => t.name);
      const failingWrite = async (name: string) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (name === order[0]) throw new Error("disk full");
      };
      await expect(
        runPlan(plan, inputs.sources, pool, order, failingWrite, new StatsCollector(), null),
      ).rejects.toThrow("disk full");
      expect(pool.arenaUsed).toBe(0);

      // A read of the second tensor fails, while others are in flight.
      const source = inputs.sources[2]!;
      const broken: typeof source = Object.assign(Object.create(source), {
        readInto: (name: string, target: Uint8Array) =>
          name === order[1] ? Promise.reject(new Error("read failed")) : source.readInto(name, target),
      });
      const sources = inputs.sources.map((s) => (s === source ? broken : s));
      await expect(
        runPlan(plan, sources, pool, order, async () => {}, new StatsCollector(), null),
      ).rejects.toThrow("read failed");
      expect(pool.arenaUsed).toBe(0);
    } finally {
      await pool.close();
      await inputs.close();
    }
  });
});
