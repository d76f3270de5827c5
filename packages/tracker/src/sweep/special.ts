/**
 * The few special functions the sweep distributions need: the normal CDF and its inverse, and the
 * regularised incomplete beta function and its inverse, written from their textbook series and continued
 * fractions. Accuracy is ~1e-12 or better, far below what a hyperparameter cares about.
 */

/**
 * erfc(x) for x ≥ 0. Below 3: 1 − erf(x) with erf from the all-positive series
 * erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), which has no cancellation.
 * From 3 up: the Laplace continued fraction erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))),
 * evaluated bottom-up at a fixed depth (it converges fast for large x).
 */
function erfcNonNegative(x: number): number {
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  let frac = x;
  for (let k = 80; k >= 1; k--) frac = x + k / 2 / frac;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / frac;
}

/** Standard normal CDF Φ(x). */
export function normalCdf(x: number): number {
  const z = x / Math.SQRT2;
  return z >= 0 ? 1 - 0.5 * erfcNonNegative(z) : 0.5 * erfcNonNegative(-z);
}

/** Standard normal density φ(x). */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/**
 * Φ⁻¹(p) by Halley iterations on Φ, started from the tail asymptote x ≈ ±√(−2 ln p') (p' the smaller
 * tail), which is within a unit of the root everywhere; Halley's cubic convergence needs a handful of steps.
 */
export function normalPpf(p: number): number {
  if (p <= 0) return Number.NEGATIVE_INFINITY;
  if (p >= 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  const tail = Math.min(p, 1 - p);
  const t = Math.sqrt(-2 * Math.log(tail));
  let x = t - (2.5 + 0.3 * t) / (1 + t);
  if (p < 0.5) x = -x;
  for (let i = 0; i < 50; i++) {
    const e = normalCdf(x) - p;
    const pdf = normalPdf(x);
    if (pdf === 0) break;
    const u = e / pdf;
    const step = u / (1 + (x * u) / 2);
    x -= step;
    if (Math.abs(step) < 1e-14 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/**
 * ln Γ(x) for x > 0: shift the argument up to ≥ 10 with Γ(x) = Γ(x+n)/(x(x+1)…(x+n−1)), then use
 * Stirling's series to the z⁻⁷ term (error < 1e-14 there).
 */
export function logGamma(x: number): number {
  let shift = 0;
  let z = x;
  while (z < 10) {
    shift += Math.log(z);
    z += 1;
  }
  const z2 = z * z;
  const series = 1 / (12 * z) - 1 / (360 * z * z2) + 1 / (1260 * z * z2 * z2) - 1 / (1680 * z * z2 * z2 * z2);
  return (z - 0.5) * Math.log(z) - z + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

/** Continued fraction for the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b): the CDF of Beta(a, b) at x. */
export function betaCdf(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * Inverse of `betaCdf` in x: Newton steps on the CDF (its derivative is the Beta density), falling back to
 * bisection whenever a step leaves the bracket that still holds the root.
 */
export function betaPpf(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const logNorm = logGamma(a + b) - logGamma(a) - logGamma(b);
  let lo = 0;
  let hi = 1;
  let x = a / (a + b);
  for (let i = 0; i < 100; i++) {
    const f = betaCdf(x, a, b) - p;
    if (Math.abs(f) < 1e-14) break;
    if (f < 0) lo = x;
    else hi = x;
    const density = Math.exp(logNorm + (a - 1) * Math.log(x) + (b - 1) * Math.log(1 - x));
    let next = x - f / density;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - x) < 1e-15) break;
    x = next;
  }
  return x;
}
