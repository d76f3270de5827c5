// The AdamW update of src/optim/adamw.ts in WebAssembly SIMD (AssemblyScript), four f32 lanes a step, in the
// order and precision torch.optim.AdamW uses for float32 parameters:
//   θ ← θ·decay;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − stepSize · m / (√v / √bc₂ + ε)
// with g = grad·gradScale (clipping); and the sum of squares of the global gradient norm that clipping needs.
// Arguments are byte offsets into this module's memory.

/** Where the caller may lay out its buffers: past this module's own static data, 16-byte aligned. */
export function dataStart(): usize {
  return (__heap_base + 15) & ~(15 as usize);
}

export function adamw(
  theta: usize,
  grad: usize,
  m: usize,
  v: usize,
  n: i32,
  b1: f32,
  b2: f32,
  gradScale: f32,
  stepSize: f32,
  sqrtBc2: f32,
  eps: f32,
  decay: f32,
): void {
  const vb1 = f32x4.splat(b1);
  const vb1c = f32x4.splat(1 - b1);
  const vb2 = f32x4.splat(b2);
  const vb2c = f32x4.splat(1 - b2);
  const vscale = f32x4.splat(gradScale);
  const vstep = f32x4.splat(stepSize);
  const vbc2 = f32x4.splat(sqrtBc2);
  const veps = f32x4.splat(eps);
  const vdecay = f32x4.splat(decay);
  const vectorEnd = n & ~3;
  for (let i = 0; i < vectorEnd; i += 4) {
    const o = (i as usize) << 2;
    const g = f32x4.mul(v128.load(grad + o), vscale);
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vb1c, g));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vb2c, f32x4.mul(g, g)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), vbc2), veps);
    const decayed = f32x4.mul(v128.load(theta + o), vdecay);
    v128.store(theta + o, f32x4.sub(decayed, f32x4.mul(vstep, f32x4.div(mi, denom))));
  }
  for (let i = vectorEnd; i < n; i++) {
    const o = (i as usize) << 2;
    const g = load<f32>(grad + o) * gradScale;
    const mi = b1 * load<f32>(m + o) + (1 - b1) * g;
    const vi = b2 * load<f32>(v + o) + (1 - b2) * g * g;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const denom = Mathf.sqrt(vi) / sqrtBc2 + eps;
    store<f32>(theta + o, load<f32>(theta + o) * decay - stepSize * (mi / denom));
  }
}

/** Σ x² over `n` f32 values at byte offset `x`, each squared and summed in f64 (four lanes, summed at the end). */
export function sumSquares(x: usize, n: i32): f64 {
  let low = f64x2.splat(0);
  let high = f64x2.splat(0);
  const vectorEnd = n & ~3;
  for (let i = 0; i < vectorEnd; i += 4) {
    const v = v128.load(x + ((i as usize) << 2));
    const a = f64x2.promote_low_f32x4(v);
    const b = f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 0, 1));
    low = f64x2.add(low, f64x2.mul(a, a));
    high = f64x2.add(high, f64x2.mul(b, b));
  }
  let sum = f64x2.extract_lane(low, 0) + f64x2.extract_lane(low, 1);
  sum += f64x2.extract_lane(high, 0) + f64x2.extract_lane(high, 1);
  for (let i = vectorEnd; i < n; i++) {
    const g = load<f32>(x + ((i as usize) << 2)) as f64;
    sum += g * g;
  }
  return sum;
}
