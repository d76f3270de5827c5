/** Test support: models from in-memory weights, and tolerance checks. */
import { type FloatDType, type Tensor, tensorFromFloat32 } from "@lethe/core";
import { expect } from "vitest";
import { parseConfig } from "../src/config.js";
import { Model, type ModelOptions } from "../src/runtime/model.js";
import { SessionCache } from "../src/runtime/session-cache.js";
import { MemoryTensorSource } from "../src/runtime/weights.js";
import type { Weights } from "./reference/forward64.js";

/** One cache for a test file, single-threaded (the suite shares two cores). */
export function testSessions(): SessionCache {
  return new SessionCache({ intraOpNumThreads: 1, interOpNumThreads: 1 });
}

export function toTensors(
  weights: Weights,
  shapes: Map<string, number[]>,
  dtype: FloatDType = "F32",
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, values] of weights) {
    out.set(name, tensorFromFloat32(Float32Array.from(values), shapes.get(name)!, dtype));
  }
  return out;
}

export async function modelFrom(
  config: Record<string, unknown>,
  tensors: Map<string, Tensor>,
  options: ModelOptions,
): Promise<Model> {
  return Model.create(parseConfig(config), new MemoryTensorSource(tensors), options);
}

/** max |a − b| / max(|b|_∞, 1e-3) over `n` values starting at the given offsets: a relative error per block. */
export function relativeError(
  a: ArrayLike<number>,
  aOff: number,
  b: ArrayLike<number>,
  bOff: number,
  n: number,
): number {
  let maxDiff = 0;
  let scale = 1e-3;
  for (let i = 0; i < n; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[aOff + i]! - b[bOff + i]!));
    scale = Math.max(scale, Math.abs(b[bOff + i]!));
  }
  return maxDiff / scale;
}

export function expectClose(actual: number, tol: number, what: string): void {
  expect(actual, what).toBeLessThan(tol);
}
