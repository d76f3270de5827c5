/**
 * Worker threads: tensors larger than one block are split across threads, and the result must not
 * depend on how many there are (blocks and the order partial results are combined in are fixed by the
 * shape). DARE/DELLA draws come from a counter-based generator, so they repeat across runs too.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configFromText } from "../src/config/load.js";
import { merge } from "../src/execute.js";
import { WorkerPool } from "../src/workers/pool.js";
import { type TestTensor, tempDir, writeModel } from "./helpers/checkpoints.js";
import { refRound } from "./helpers/reference.js";
import { rng } from "./helpers/tensors.js";

const dir = tempDir("threads");
// 160 × 300 elements in blocks of 8192 elements: six blocks (DELLA: whole rows per block).
const ROWS = 160;
const COLS = 300;
const BLOCK = 8192;

function big(seed: number, base?: TestTensor): TestTensor {
  const r = rng(seed);
  const values = base
    ? base.values.map((v) => refRound(v + (Math.floor(r() * 9) - 4) * 2 ** -10, "BF16"))
    : Array.from({ length: ROWS * COLS }, () => refRound((r() - 0.5) * 0.1, "BF16"));
  return { name: "model.layers.0.mlp.down_proj.weight", dtype: "BF16", shape: [ROWS, COLS], values };
}

function weightsBytes(out: string): Buffer {
  return readFileSync(path.join(out, "model.safetensors"));
}

// One pool per thread count for the whole file: starting workers from TypeScript sources is slow.
const pools = new Map([1, 2, 3].map((n) => [n, new WorkerPool(n)]));
afterAll(async () => {
  for (const pool of pools.values()) await pool.close();
});

describe("merges are identical with any number of threads", async () => {
  const b = big(1);
  const base = await writeModel(path.join(dir, "base"), [b]);
  const a = await writeModel(path.join(dir, "a"), [big(2, b)]);
  const c = await writeModel(path.join(dir, "c"), [big(3, b)]);
  const yaml = (method: string) => `
merge_method: ${method}
base_model: ${base}
models:
  - model: ${a}
    parameters: {weight: 0.7, density: 0.4}
  - model: ${c}
    parameters: {weight: 0.4, density: 0.6}
`;

  for (const method of ["ties", "dare_ties", "della"]) {
    it(method, async () => {
      const { config } = configFromText(yaml(method), `${method}.yml`);
      const outs: Buffer[] = [];
      for (const threads of [1, 2, 3]) {
        const out = path.join(dir, `${method}-${threads}`);
        await merge(config, out, { runner: pools.get(threads)!, copyTokenizer: false, blockElements: BLOCK });
        outs.push(weightsBytes(out));
      }
      expect(outs[1]!.equals(outs[0]!)).toBe(true);
      expect(outs[2]!.equals(outs[0]!)).toBe(true);
    });
  }

  it("a different random seed draws a different DARE mask", async () => {
    const { config } = configFromText(yaml("dare_ties"), "dare.yml");
    await merge(config, path.join(dir, "dare-seed-0"), {
      runner: pools.get(2)!,
      seed: 0,
      blockElements: BLOCK,
    });
    await merge(config, path.join(dir, "dare-seed-1"), {
      runner: pools.get(2)!,
      seed: 1,
      blockElements: BLOCK,
    });
    await merge(config, path.join(dir, "dare-seed-0b"), { runner: pools.get(1)!, seed: 0 });
    const zero = weightsBytes(path.join(dir, "dare-seed-0"));
    expect(weightsBytes(path.join(dir, "dare-seed-1")).equals(zero)).toBe(false);
    expect(weightsBytes(path.join(dir, "dare-seed-0b")).equals(zero)).toBe(true);
  });
});
