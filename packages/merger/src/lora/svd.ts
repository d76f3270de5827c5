/**
 * Truncated SVD for turning a merged ΔW back into a rank-r LoRA (PEFT's `*_svd` combinations):
 * ΔW ≈ U_r·diag(S_r)·V_rᵀ, written as lora_B = U_r·diag(S_r), lora_A = V_rᵀ.
 *
 * Small matrices get an exact SVD: one-sided Jacobi (Hestenes) on the columns, which orthogonalizes
 * A·V = U·Σ by plane rotations. Larger ones go through a randomized range finder (Halko, Martinsson and
 * Tropp 2011, Algorithm 4.4): Y = A·Ω with a Gaussian Ω of rank + oversampling columns, a few power
 * iterations with re-orthonormalization, Q = orth(Y), then the exact SVD of the small B = Qᵀ·A.
 * Everything is in f64; Ω comes from the counter-based generator, so results are reproducible.
 */
import { philox4x32 } from "../sparsify/random.js";

export interface Svd {
  /** rows × k, row-major. */
  u: Float64Array;
  s: Float64Array;
  /** k × cols, row-major. */
  vt: Float64Array;
  k: number;
}

export interface SvdOptions {
  oversample?: number;
  powerIterations?: number;
  seed?: number;
  /** Use the exact SVD when rows·cols is at most this (default 4,000,000). */
  exactBelow?: number;
}

/** Transpose of a rows × cols row-major matrix. */
export function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

/** C = A·B for row-major A (n × m) and B (m × p). */
export function matmul(a: Float64Array, b: Float64Array, n: number, m: number, p: number): Float64Array {
  const c = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k]!;
      if (aik === 0) continue;
      const bRow = k * p;
      const cRow = i * p;
      for (let j = 0; j < p; j++) c[cRow + j]! += aik * b[bRow + j]!;
    }
  }
  return c;
}

/** Orthonormalize the columns of a rows × cols matrix in place (modified Gram-Schmidt, twice). */
export function orthonormalizeColumns(a: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += a[i * cols + k]! * a[i * cols + j]!;
        for (let i = 0; i < rows; i++) a[i * cols + j]! -= dot * a[i * cols + k]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += a[i * cols + j]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < rows; i++) a[i * cols + j] = norm > 1e-300 ? a[i * cols + j]! / norm : 0;
  }
}

/**
 * Exact thin SVD by one-sided Jacobi on the columns of A (rows × cols, rows ≥ cols is not required).
 * Returns all min(rows, cols) singular triplets, sorted by decreasing singular value.
 */
export function jacobiSvd(a: Float64Array, rows: number, cols: number): Svd {
  if (rows < cols) {
    const t = jacobiSvd(transpose(a, rows, cols), cols, rows);
    // Aᵀ = U Σ Vᵀ  ⇒  A = V Σ Uᵀ
    return { u: transpose(t.vt, t.k, rows), s: t.s, vt: transpose(t.u, cols, t.k), k: t.k };
  }
  const w = Float64Array.from(a); // columns rotated towards A·V
  const v = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) v[i * cols + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p++) {
      for (let q = p + 1; q < cols; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          const wp = w[i * cols + p]!;
          const wq = w[i * cols + q]!;
          alpha += wp * wp;
          beta += wq * wq;
          gamma += wp * wq;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < rows; i++) {
          const wp = w[i * cols + p]!;
          const wq = w[i * cols + q]!;
          w[i * cols + p] = c * wp - s * wq;
          w[i * cols + q] = s * wp + c * wq;
        }
        for (let i = 0; i < cols; i++) {
          const vp = v[i * cols + p]!;
          const vq = v[i * cols + q]!;
          v[i * cols + p] = c * vp - s * vq;
          v[i * cols + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const sigma = Array.from({ length: cols }, (_, j) => {
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += w[i * cols + j]! ** 2;
    return Math.sqrt(norm);
  });
  const order = sigma.map((_, j) => j).sort((x, y) => sigma[y]! - sigma[x]!);
  const k = cols;
  const u = new Float64Array(rows * k);
  const s = new Float64Array(k);
  const vt = new Float64Array(k * cols);
  order.forEach((j, r) => {
    s[r] = sigma[j]!;
    for (let i = 0; i < rows; i++) u[i * k + r] = sigma[j]! > 0 ? w[i * cols + j]! / sigma[j]! : 0;
    for (let i = 0; i < cols; i++) vt[r * cols + i] = v[i * cols + j]!;
  });
  return { u, s, vt, k };
}

function gaussian(rows: number, cols: number, seed: number): Float64Array {
  const out = new Float64Array(rows * cols);
  const words = new Uint32Array(4);
  for (let i = 0; i < out.length; i += 2) {
    philox4x32(i >>> 0, Math.floor(i / 2 ** 32), 0, 2, seed >>> 0, 0x5f3759df, words);
    const u1 = (words[0]! + 1) / 4294967297;
    const u2 = words[1]! / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** The best rank-`rank` approximation of A (rows × cols, row-major), as its SVD factors. */
export function truncatedSvd(
  a: Float64Array,
  rows: number,
  cols: number,
  rank: number,
  options: SvdOptions = {},
): Svd {
  const k = Math.min(rank, rows, cols);
  const truncate = (full: Svd): Svd => {
    const u = new Float64Array(rows * k);
    const vt = new Float64Array(k * cols);
    for (let i = 0; i < rows; i++) for (let r = 0; r < k; r++) u[i * k + r] = full.u[i * full.k + r]!;
    vt.set(full.vt.subarray(0, k * cols));
    return { u, s: full.s.slice(0, k), vt, k };
  };
  const l = Math.min(k + (options.oversample ?? 10), rows, cols);
  if (rows * cols <= (options.exactBelow ?? 4_000_000) || l >= Math.min(rows, cols)) {
    return truncate(jacobiSvd(a, rows, cols));
  }
  const at = transpose(a, rows, cols);
  let q = matmul(a, gaussian(cols, l, options.seed ?? 0), rows, cols, l);
  orthonormalizeColumns(q, rows, l);
  for (let it = 0; it < (options.powerIterations ?? 3); it++) {
    const z = matmul(at, q, cols, rows, l);
    orthonormalizeColumns(z, cols, l);
    q = matmul(a, z, rows, cols, l);
    orthonormalizeColumns(q, rows, l);
  }
  const b = matmul(transpose(q, rows, l), a, l, rows, cols); // l × cols
  const small = jacobiSvd(b, l, cols);
  const full: Svd = { u: matmul(q, small.u, rows, l, small.k), s: small.s, vt: small.vt, k: small.k };
  return truncate(full);
}
