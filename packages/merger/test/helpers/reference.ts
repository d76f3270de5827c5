/**
 * Straightforward reference implementations of the merge methods, written from merging.md without
 * looking at how src/ does it: arrays of numbers, full sorts, rounding by exponent arithmetic. Slow and
 * obvious on purpose; the tests compare the streaming, histogram-based implementation against these.
 */

export type W = "BF16" | "F16" | "F32";

/** Round half to even of a non-negative-or-negative real y to an integer. */
function roundHalfEven(y: number): number {
  const f = Math.floor(y);
  const diff = y - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Round x (already an f32 value) to a float with `bits` significant bits, min normal exponent emin. */
function roundToPrecision(x: number, bits: number, emin: number, max: number, overflowAt: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const e = Math.max(Math.floor(Math.log2(a)), emin);
  // log2 can be off by one near powers of two; fix the exponent exactly.
  let exp = e;
  while (exp > emin && 2 ** exp > a) exp--;
  while (2 ** (exp + 1) <= a) exp++;
  const quantum = 2 ** (exp - (bits - 1));
  let r = roundHalfEven(a / quantum) * quantum;
  if (r >= overflowAt) r = Infinity;
  else if (r > max) r = max;
  return x < 0 ? -r : r;
}

export function refRound(x: number, w: W): number {
  const f = Math.fround(x);
  if (w === "F32") return f;
  if (w === "BF16") {
    const max = (2 - 2 ** -7) * 2 ** 127;
    return roundToPrecision(f, 8, -126, max, (2 - 2 ** -8) * 2 ** 127);
  }
  return roundToPrecision(f, 11, -14, 65504, 65520);
}

export type Semantics = "mergekit" | "paper" | "peft";

export interface RefModel {
  values: number[];
  weight: number;
  density?: number;
  gamma?: number;
  epsilon?: number;
  /** DARE / DELLA keep mask, supplied by the test (the generator is tested separately). */
  mask?: boolean[];
  /** Paper semantics with a trim over the whole model: the |δ| threshold found over all tensors. */
  threshold?: number;
}

export interface RefOptions {
  method: string;
  semantics: Semantics;
  w: W;
  base: number[];
  models: RefModel[];
  normalize?: boolean;
  lambda?: number;
  rescale?: boolean;
  inputsAreDeltas?: boolean;
  addBase?: boolean;
  /** mergekit rules with f32 intermediates (--exact-f32-accumulate). */
  f32?: boolean;
}

const METHODS: Record<
  string,
  { sparsify: string | null; consensus: boolean; normalize: boolean; rescale: boolean }
> = {
  task_arithmetic: { sparsify: null, consensus: false, normalize: false, rescale: false },
  ties: { sparsify: "magnitude", consensus: true, normalize: true, rescale: false },
  dare_ties: { sparsify: "random", consensus: true, normalize: false, rescale: true },
  dare_linear: { sparsify: "random", consensus: false, normalize: false, rescale: true },
  breadcrumbs: { sparsify: "outliers", consensus: false, normalize: false, rescale: false },
  breadcrumbs_ties: { sparsify: "outliers", consensus: true, normalize: false, rescale: false },
  della: { sparsify: "della", consensus: true, normalize: true, rescale: true },
  della_linear: { sparsify: "della", consensus: false, normalize: false, rescale: true },
};

/** Indices ordered by |v| descending, equal magnitudes by index ascending. */
function rankDescending(v: number[]): number[] {
  const idx = v.map((_, i) => i);
  const mag = (x: number) => (Number.isNaN(x) ? Infinity : Math.abs(x));
  idx.sort((a, b) => {
    const ma = mag(v[a]!);
    const mb = mag(v[b]!);
    if (Number.isNaN(v[a]!) !== Number.isNaN(v[b]!)) return Number.isNaN(v[a]!) ? -1 : 1;
    return mb - ma || a - b;
  });
  return idx;
}

/** The merged output values (in W, before the cast to an output dtype). */
export function referenceGta(o: RefOptions): number[] {
  const def = METHODS[o.method]!;
  const n = o.base.length;
  const perOp = o.semantics === "mergekit" && !o.f32;
  const R = (x: number) => (perOp ? refRound(x, o.w) : Math.fround(x));
  const normalize = o.normalize ?? def.normalize;
  const lambda = o.lambda ?? 1;
  const rescale = o.rescale ?? def.rescale;

  const trimmed = o.models.map((m) => {
    const delta = o.inputsAreDeltas ? m.values.slice() : m.values.map((x, j) => R(x - o.base[j]!));
    const d = m.density ?? 1;
    let keep = delta.map(() => true);
    if (def.sparsify && d < 1) {
      if (def.sparsify === "magnitude") {
        const order = rankDescending(delta);
        const k = Math.floor(d * n);
        keep = delta.map(() => false);
        if (o.semantics === "paper") {
          const threshold = m.threshold ?? Math.abs(delta[order[k]!]!);
          delta.forEach((x, j) => {
            keep[j] = Math.abs(x) >= threshold;
          });
        } else {
          if (k === 0 && o.semantics === "mergekit") throw new Error("keeps 0");
          for (let r = 0; r < k; r++) keep[order[r]!] = true;
        }
      } else if (def.sparsify === "outliers") {
        const target = Math.floor(d * n);
        let nTop = Math.floor((m.gamma ?? 0.01) * n);
        let nBot = n - target - nTop;
        if (nBot < 0) {
          nTop += nBot;
          nBot = 0;
        }
        const order = rankDescending(delta);
        keep = delta.map(() => false);
        for (let r = nTop; r < n - nBot; r++) keep[order[r]!] = true;
      } else {
        keep = m.mask!.slice();
      }
    }
    let kept = delta.map((x, j) => (keep[j] ? x : 0));
    if (rescale && def.sparsify && d < 1) {
      if (def.sparsify === "della" || o.semantics === "mergekit") {
        // (with o.f32 the work dtype is f32, as everything else)
        const work: W = !perOp
          ? "F32"
          : def.sparsify === "magnitude" || def.sparsify === "outliers"
            ? o.w
            : o.w === "BF16"
              ? "BF16"
              : "F32";
        const before = refRound(
          delta.reduce((a, x) => a + Math.abs(x), 0),
          work,
        );
        const after = refRound(
          kept.reduce((a, x) => a + Math.abs(x), 0),
          work,
        );
        if (!(before < 1e-7 || after < 1e-7)) {
          const scale = refRound(before / after, work);
          kept = kept.map((x) => R(refRound(x * scale, work)));
        }
      } else {
        kept = kept.map((x) => Math.fround(x * (1 / d)));
      }
    }
    return kept;
  });

  const weights = o.models.map((m) => (perOp ? refRound(m.weight, o.w) : m.weight));
  const weighted = trimmed.map((t, i) => t.map((x) => R(weights[i]! * x)));
  const votes = o.semantics === "mergekit" ? weighted : trimmed;

  let majority = 0;
  if (def.consensus && o.semantics === "paper") {
    let total = 0;
    for (let j = 0; j < n; j++) total += Math.sign(votes.reduce((s, v) => Math.fround(s + v[j]!), 0));
    majority = Math.sign(total);
  }

  const out: number[] = [];
  for (let j = 0; j < n; j++) {
    let t = 0;
    let divisor: number;
    if (def.consensus) {
      const s = votes.reduce((acc, v) => Math.fround(acc + v[j]!), 0);
      let sign: number;
      if (o.semantics === "paper") sign = s > 0 ? 1 : s < 0 ? -1 : majority > 0 ? 1 : -1;
      else sign = s >= 0 ? 1 : -1;
      let wsum = 0;
      let count = 0;
      votes.forEach((v, i) => {
        if (Math.sign(v[j]!) === sign) {
          t = Math.fround(t + weighted[i]![j]!);
          wsum = Math.fround(wsum + weights[i]!);
          count++;
        }
      });
      if (o.semantics === "mergekit") {
        divisor = R(wsum);
        if (divisor === 0) divisor = 1;
      } else divisor = Math.max(1, count);
    } else {
      for (const v of weighted) t = Math.fround(t + v[j]!);
      divisor = R(weights.reduce((a, w) => Math.fround(a + w), 0));
      if (Math.abs(divisor) < 1e-8) divisor = 1;
    }
    t = R(t);
    if (normalize || (def.consensus && o.semantics !== "mergekit")) t = R(t / divisor);
    if (lambda !== 1) t = R(t * Math.fround(lambda));
    const value = o.addBase === false ? t : R(o.base[j]! + t);
    out.push(refRound(value, o.w));
  }
  return out;
}

export function referenceLinear(o: {
  w: W;
  semantics: Semantics;
  models: RefModel[];
  normalize?: boolean;
}): number[] {
  const perOp = o.semantics === "mergekit";
  const R = (x: number) => (perOp ? refRound(x, o.w) : Math.fround(x));
  const weights = o.models.map((m) => (perOp ? refRound(m.weight, o.w) : m.weight));
  const total = R(weights.reduce((a, w) => Math.fround(a + w), 0));
  return o.models[0]!.values.map((_, j) => {
    let s = 0;
    o.models.forEach((m, i) => {
      s = Math.fround(s + R(weights[i]! * m.values[j]!));
    });
    let v = R(s);
    if (o.normalize ?? true) v = R(v / total);
    return refRound(v, o.w);
  });
}
