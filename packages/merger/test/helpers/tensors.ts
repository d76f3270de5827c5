/** Small deterministic test tensors and byte conversions. */
import { decodeToFloat32, encodeFromFloat32, type FloatDType } from "@lethe/core";
import type { RawTensor } from "../../src/kernels/decode.js";
import { refRound, type W } from "./reference.js";

/** A seeded generator (mulberry32), independent of the merger's Philox. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values representable in `dtype`. */
export function inDtype(values: number[], dtype: FloatDType): number[] {
  if (dtype === "F64") return values.slice();
  return values.map((v) => refRound(v, dtype as W));
}

export function raw(values: number[], dtype: FloatDType): RawTensor {
  const bytes =
    dtype === "F64"
      ? new Uint8Array(Float64Array.from(values).buffer)
      : encodeFromFloat32(Float32Array.from(values), dtype);
  // A fresh, aligned copy.
  return { dtype, bytes: new Uint8Array(bytes) };
}

export function decode(bytes: Uint8Array, dtype: FloatDType): number[] {
  return Array.from(decodeToFloat32(bytes, dtype));
}

/**
 * A base and N fine-tunes whose deltas take few distinct magnitudes (so the trim threshold lands on
 * ties), with some exact zeros, opposite signs and exact cancellations.
 */
export function tiedModels(
  n: number,
  count: number,
  seed: number,
  dtype: FloatDType,
): { base: number[]; models: number[][] } {
  const r = rng(seed);
  const base = inDtype(
    Array.from({ length: n }, () => (r() - 0.5) * 0.2),
    dtype,
  );
  const models = Array.from({ length: count }, (_, m) =>
    inDtype(
      base.map((b, j) => {
        const level = Math.floor(r() * 7) - 3; // -3..3 → ties in |δ|
        if (m === 1 && j % 11 === 0) return b - (Math.floor(r() * 7) - 3) * 2 ** -9; // cancellations with model 0
        return b + level * 2 ** -9 + (j % 5 === 0 ? r() * 1e-3 : 0);
      }),
      dtype,
    ),
  );
  return { base, models };
}

export function sameBits(
  actual: number[],
  expected: number[],
): { index: number; actual: number; expected: number } | null {
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]) && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      return { index: i, actual: actual[i]!, expected: expected[i]! };
    }
  }
  return actual.length === expected.length
    ? null
    : { index: -1, actual: actual.length, expected: expected.length };
}
