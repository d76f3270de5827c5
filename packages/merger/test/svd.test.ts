/** Truncated SVD against matrices with known singular values (built here from random orthonormal bases). */
import { describe, expect, it } from "vitest";
import { truncatedSvd } from "../src/lora/svd.js";
import { rng } from "./helpers/tensors.js";

/** rows × k with orthonormal columns: classical Gram-Schmidt on random columns. */
function orthonormal(rows: number, k: number, seed: number): number[][] {
  const r = rng(seed);
  const cols: number[][] = [];
  while (cols.length < k) {
    let v = Array.from({ length: rows }, () => r() - 0.5);
    for (const c of cols) {
      const dot = c.reduce((a, x, i) => a + x * v[i]!, 0);
      v = v.map((x, i) => x - dot * c[i]!);
    }
    const norm = Math.hypot(...v);
    cols.push(v.map((x) => x / norm));
  }
  return cols;
}

function build(rows: number, cols: number, sigma: number[], seed: number): Float64Array {
  const u = orthonormal(rows, sigma.length, seed);
  const v = orthonormal(cols, sigma.length, seed + 1);
  const a = new Float64Array(rows * cols);
  sigma.forEach((s, k) => {
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) a[i * cols + j]! += s * u[k]![i]! * v[k]![j]!;
  });
  return a;
}

function residual(a: Float64Array, rows: number, cols: number, svd: ReturnType<typeof truncatedSvd>): number {
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let approx = 0;
      for (let r = 0; r < svd.k; r++) approx += svd.u[i * svd.k + r]! * svd.s[r]! * svd.vt[r * cols + j]!;
      sum += (a[i * cols + j]! - approx) ** 2;
    }
  }
  return Math.sqrt(sum);
}

describe("truncated SVD", () => {
  it("recovers the top singular values and the optimal residual (exact Jacobi path)", () => {
    const sigma = [9, 4, 2.5, 1, 0.3, 0.05];
    for (const [rows, cols] of [
      [12, 8],
      [7, 15],
    ] as const) {
      const a = build(rows, cols, sigma, rows * cols);
      const svd = truncatedSvd(a, rows, cols, 3);
      expect(svd.k).toBe(3);
      svd.s.forEach((s, i) => {
        expect(s).toBeCloseTo(sigma[i]!, 10);
      });
      // Eckart–Young: ‖A − A_3‖_F² = Σ_{i>3} σ_i².
      expect(residual(a, rows, cols, svd)).toBeCloseTo(Math.hypot(1, 0.3, 0.05), 10);
    }
  });

  it("gets the same answer through the randomized range finder", () => {
    const sigma = Array.from({ length: 40 }, (_, i) => 100 * 0.7 ** i);
    const [rows, cols] = [160, 90];
    const a = build(rows, cols, sigma, 5);
    const svd = truncatedSvd(a, rows, cols, 8, { exactBelow: 0 });
    svd.s.forEach((s, i) => {
      expect(Math.abs(s - sigma[i]!) / sigma[i]!).toBeLessThan(1e-6);
    });
    const optimal = Math.hypot(...sigma.slice(8));
    expect(residual(a, rows, cols, svd) / optimal).toBeLessThan(1 + 1e-6);
  });
});
