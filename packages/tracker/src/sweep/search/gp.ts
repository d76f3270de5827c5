/**
 * A Gaussian process regressor with a Matérn-5/2 kernel on the unit cube, for Bayesian search.
 * Targets are standardised by the caller, so the signal variance is fixed at 1; the length scale and the
 * noise variance are picked from a small grid by maximising the log marginal likelihood
 * (Rasmussen & Williams, "Gaussian Processes for Machine Learning", eq. 2.30 and algorithm 2.1).
 */

export interface GaussianProcess {
  lengthScale: number;
  noise: number;
  logMarginalLikelihood: number;
  /** Posterior mean and standard deviation of the latent function at x. */
  predict(x: readonly number[]): { mean: number; std: number };
}

const LENGTH_SCALES = [0.05, 0.1, 0.2, 0.35, 0.6, 1, 2];
const NOISES = [1e-6, 1e-4, 1e-2, 1e-1];

/** k(r) = (1 + √5 r/ℓ + 5r²/(3ℓ²)) · exp(−√5 r/ℓ) */
export function matern52(r: number, lengthScale: number): number {
  const s = (Math.sqrt(5) * r) / lengthScale;
  return (1 + s + (s * s) / 3) * Math.exp(-s);
}

function distance(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/** Lower Cholesky factor of a symmetric positive-definite n×n matrix (row-major), or null if not SPD. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (sum <= 0) return null;
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j]!;
      }
    }
  }
  return l;
}

/** Solves L z = b (forward substitution). */
function solveLower(l: Float64Array, n: number, b: readonly number[]): number[] {
  const z = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i * n + k]! * z[k]!;
    z[i] = sum / l[i * n + i]!;
  }
  return z;
}

/** Solves Lᵀ z = b (back substitution). */
function solveUpper(l: Float64Array, n: number, b: readonly number[]): number[] {
  const z = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = b[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i]! * z[k]!;
    z[i] = sum / l[i * n + i]!;
  }
  return z;
}

/** Fits with fixed hyperparameters; null when the kernel matrix is numerically singular. */
export function fitGaussianProcessWith(
  xs: readonly (readonly number[])[],
  ys: readonly number[],
  lengthScale: number,
  noise: number,
): GaussianProcess | null {
  const n = xs.length;
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = matern52(distance(xs[i]!, xs[j]!), lengthScale);
      k[i * n + j] = v;
      k[j * n + i] = v;
    }
    k[i * n + i] = k[i * n + i]! + noise + 1e-10;
  }
  const l = cholesky(k, n);
  if (!l) return null;
  const alpha = solveUpper(l, n, solveLower(l, n, ys));
  let logDet = 0;
  for (let i = 0; i < n; i++) logDet += Math.log(l[i * n + i]!);
  let fit = 0;
  for (let i = 0; i < n; i++) fit += ys[i]! * alpha[i]!;
  const logMarginalLikelihood = -0.5 * fit - logDet - (n / 2) * Math.log(2 * Math.PI);
  return {
    lengthScale,
    noise,
    logMarginalLikelihood,
    predict(x) {
      const kStar = xs.map((xi) => matern52(distance(xi, x), lengthScale));
      let mean = 0;
      for (let i = 0; i < n; i++) mean += kStar[i]! * alpha[i]!;
      const v = solveLower(l, n, kStar);
      let explained = 0;
      for (const vi of v) explained += vi * vi;
      return { mean, std: Math.sqrt(Math.max(1 - explained, 1e-12)) };
    },
  };
}

/** Fits the hyperparameters by grid search over the log marginal likelihood. */
export function fitGaussianProcess(
  xs: readonly (readonly number[])[],
  ys: readonly number[],
): GaussianProcess {
  let best: GaussianProcess | null = null;
  for (const lengthScale of LENGTH_SCALES) {
    for (const noise of NOISES) {
      const gp = fitGaussianProcessWith(xs, ys, lengthScale, noise);
      if (gp && (!best || gp.logMarginalLikelihood > best.logMarginalLikelihood)) best = gp;
    }
  }
  if (!best)
    throw new Error("Gaussian process: the kernel matrix is singular for every hyperparameter setting");
  return best;
}
