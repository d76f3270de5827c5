/**
 * Reverse-mode differentiation of the graph IR. `RULES` holds one vector-Jacobian product per op, written with
 * the forward ops themselves: given the cotangent `g` of a node's output y = op(x…), a rule returns the
 * cotangent of each input (null where the input takes no gradient: indices, shapes, conditions). `gradient`
 * walks the graph's nodes backwards from the loss values and sums the contributions of every use.
 *
 * The emitted nodes land in the same graph. Only the path from `wrt` to `of` is visited; anything a rule builds
 * that no requested gradient needs is left for `prune` (ONNX Runtime does not drop dead nodes).
 */

import { isFloat } from "./dtypes.js";
import type { Attrs, Node, Shape, Value } from "./ir.js";
import {
  add,
  attrInt,
  attrInts,
  cast,
  div,
  exp,
  expand,
  filledLike,
  greater,
  less,
  log,
  matmul,
  mul,
  neg,
  normAxis,
  pad,
  pow,
  reduceSum,
  reshape,
  scatterElementsAdd,
  scatterNDAdd,
  shapeOf,
  slice,
  squeeze,
  sub,
  transpose,
  unsqueeze,
  where,
} from "./ops.js";

/** Cotangents of a node's inputs from the cotangent `g` of its output `y`. */
type VjpRule = (g: Value, x: readonly Value[], y: Value, attrs: Attrs) => (Value | null)[];

export const RULES: Readonly<Record<string, VjpRule>> = {
  Identity: (g) => [g],
  Add: (g, [a, b]) => [unbroadcast(g, a!), unbroadcast(g, b!)],
  Sub: (g, [a, b]) => [unbroadcast(g, a!), unbroadcast(neg(g), b!)],
  Mul: (g, [a, b]) => [unbroadcast(mul(g, b!), a!), unbroadcast(mul(g, a!), b!)],
  Div: (g, [a, b], y) => [unbroadcast(div(g, b!), a!), unbroadcast(neg(div(mul(g, y), b!)), b!)],
  Pow: (g, [x, e], y) => [
    unbroadcast(mul(g, powDerivative(x!, e!)), x!),
    e!.constant ? null : unbroadcast(mul(g, mul(y, log(x!))), e!),
  ],
  Neg: (g) => [neg(g)],
  Sqrt: (g, _x, y) => [div(g, mul(y, 2))],
  Exp: (g, _x, y) => [mul(g, y)],
  Log: (g, [x]) => [div(g, x!)],
  Sigmoid: (g, _x, y) => [mul(g, mul(y, sub(1, y)))],
  Softmax: (g, _x, y, attrs) => [mul(y, sub(g, reduceSum(mul(g, y), [axisOf(attrs)])))],
  LogSoftmax: (g, _x, y, attrs) => [sub(g, mul(exp(y), reduceSum(g, [axisOf(attrs)])))],
  ReduceSum: (g, [x, axes], _y, attrs) => [
    spreadOver(g, x!, axesOf(x!, axes?.constant?.values), attrs),
    null,
  ],
  ReduceMean: (g, [x], _y, attrs) => {
    const axes = axesOf(x!, attrInts(attrs, "axes"));
    return [div(spreadOver(g, x!, axes, attrs), countOf(x!, axes))];
  },
  MatMul: (g, [a, b]) => matmulVjp(g, a!, b!),
  Transpose: (g, [x], _y, attrs) => [transposed(g, inversePermutation(permOf(x!, attrs)))],
  Reshape: (g, [x]) => [reshapeTo(g, x!.shape), null],
  Unsqueeze: (g, [, axes]) => [squeeze(g, axes!.constant!.values), null],
  Squeeze: (g, [, axes]) => [unsqueeze(g, axes!.constant!.values), null],
  Expand: (g, [x]) => [unbroadcast(g, x!), null],
  Cast: (g, [x]) => [isFloat(x!.dtype) ? cast(g, x!.dtype) : null],
  Concat: (g, xs, _y, attrs) => concatVjp(g, xs, attrs),
  Slice: (g, [x, starts, ends, axes]) => [sliceVjp(g, x!, starts!, ends!, axes), null, null, null, null],
  // PyTorch's clamp convention: the gradient passes where min ≤ x ≤ max.
  Clip: (g, [x, lo, hi]) => [where(less(x!, lo!), 0, where(greater(x!, hi!), 0, g)), null, null],
  Where: (g, [c, a, b]) => [null, unbroadcast(where(c!, g, 0), a!), unbroadcast(where(c!, 0, g), b!)],
  // An embedding lookup's rows are added back into a zero table: repeated ids accumulate.
  Gather: (g, [data, indices], _y, attrs) => {
    if (axisOf(attrs, 0) !== 0) throw new Error("only Gather on axis 0 is differentiable");
    return [scatterNDAdd(filledLike(data!, 0), unsqueeze(indices!, [-1]), g), null];
  },
  GatherElements: (g, [data, indices], _y, attrs) => [
    scatterElementsAdd(filledLike(data!, 0), indices!, g, axisOf(attrs, 0)),
    null,
  ],
};

export interface GradientRequest {
  /** The values to differentiate, each with its cotangent (a value of the same shape, e.g. a graph input). */
  of: ReadonlyArray<readonly [Value, Value]>;
  /** The values whose gradients are wanted. */
  wrt: readonly Value[];
}

/**
 * Σ over `of` of cotangentᵀ · ∂value/∂w, for each w in `wrt`, as new nodes of the same graph. A `wrt` value the
 * loss does not depend on gets null.
 */
export function gradient(graph: { nodes: readonly Node[] }, req: GradientRequest): (Value | null)[] {
  const dependsOnWrt = new Set<Value>(req.wrt);
  for (const node of graph.nodes) {
    if (node.inputs.some((x) => dependsOnWrt.has(x))) for (const y of node.outputs) dependsOnWrt.add(y);
  }
  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, g: Value) => {
    const prev = grads.get(v);
    grads.set(v, prev ? add(prev, g) : g);
  };
  for (const [v, cotangent] of req.of) accumulate(v, cotangent);

  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n]!;
    const y = node.outputs[0]!;
    const g = grads.get(y);
    if (!g || !node.inputs.some((x) => dependsOnWrt.has(x))) continue;
    const rule = RULES[node.op];
    if (!rule || node.outputs.length !== 1) {
      throw new Error(
        `no gradient rule for op ${node.op}: ${y.name} needs one to reach ${describe(req.wrt)}`,
      );
    }
    const inputGrads = rule(g, node.inputs, y, node.attrs);
    node.inputs.forEach((x, i) => {
      const gx = inputGrads[i];
      if (gx && dependsOnWrt.has(x)) accumulate(x, gx);
    });
  }
  return req.wrt.map((w) => grads.get(w) ?? null);
}

function describe(values: readonly Value[]): string {
  const names = values.map((v) => v.name);
  return names.length <= 3 ? names.join(", ") : `${names.slice(0, 3).join(", ")}, …`;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers the rules share

/** Sum `g` over the axes that broadcasting added or stretched, so it takes `x`'s shape. */
function unbroadcast(g: Value, x: Value): Value {
  const lead = g.rank - x.rank;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (x.shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return g;
  const summed = reduceSum(g, axes, true);
  return lead > 0 ? squeeze(summed, range(lead)) : summed;
}

/** Spread a reduction's cotangent back over the reduced axes of `x`. */
function spreadOver(g: Value, x: Value, axes: number[], attrs: Attrs): Value {
  const kept = attrInt(attrs, "keepdims", 1) === 1 ? g : unsqueeze(g, axes);
  return broadcastTo(kept, x);
}

function broadcastTo(g: Value, x: Value): Value {
  const target = x.shape.map((d, i) => (d === g.shape[i] ? 1 : d));
  if (target.every((d) => typeof d === "number")) return expand(g, target as number[]);
  return g.graph.apply("Expand", [g, shapeOf(x)])[0]!;
}

function countOf(x: Value, axes: number[]): number {
  return axes.reduce((n, a) => n * x.dim(a), 1);
}

/** d(x^e)/dx = e·x^(e−1), folded to e·x when e is the constant 2. */
function powDerivative(x: Value, e: Value): Value {
  if (e.constant && e.constant.values.length === 1) {
    const k = e.constant.values[0]!;
    return k === 2 ? mul(x, 2) : mul(pow(x, k - 1), k);
  }
  return mul(e, pow(x, sub(e, 1)));
}

/**
 * C = A·B with batch broadcasting: dA = dC·Bᵀ, dB = Aᵀ·dC, each summed over broadcast batch axes. For the
 * linear-layer case (B a 2-D weight) dB is one GEMM over all rows instead of a batch of GEMMs and a sum.
 */
function matmulVjp(g: Value, a: Value, b: Value): Value[] {
  const ga = unbroadcast(matmul(g, swapLast(b)), a);
  if (b.rank === 2 && a.rank > 2) {
    const rows = (v: Value) => reshape(v, [-1, v.dim(-1)]);
    return [ga, matmul(transpose(rows(a), [1, 0]), rows(g))];
  }
  return [ga, unbroadcast(matmul(swapLast(a), g), b)];
}

/**
 * `transpose(g, perm)`, with (A·B)ᵀ = Bᵀ·Aᵀ for a 2-D product: a linear layer y = x·Wᵀ gets its dW as one
 * GEMM in W's own layout instead of a GEMM and a copy of its [in, out] result (ORT folds the operand
 * transposes into the GEMM), and a transpose of a transpose cancels.
 */
function transposed(g: Value, perm: number[]): Value {
  const p = g.producer;
  if (p?.op === "MatMul" && g.rank === 2 && p.inputs.every((v) => v.rank === 2) && perm[0] === 1) {
    return matmul(transposed(p.inputs[1]!, [1, 0]), transposed(p.inputs[0]!, [1, 0]));
  }
  if (p?.op === "Transpose") {
    const inner = permOf(p.inputs[0]!, p.attrs);
    if (perm.every((axis, i) => inner[axis] === i)) return p.inputs[0]!;
  }
  return transpose(g, perm);
}

function swapLast(x: Value): Value {
  const perm = range(x.rank);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return transposed(x, perm);
}

function concatVjp(g: Value, xs: readonly Value[], attrs: Attrs): Value[] {
  const axis = normAxis(axisOf(attrs), g.rank);
  let offset = 0;
  return xs.map((x) => {
    const size = x.dim(axis);
    const part = slice(g, axis, offset, offset + size);
    offset += size;
    return part;
  });
}

function sliceVjp(g: Value, x: Value, starts: Value, ends: Value, axesV: Value | undefined): Value {
  const before = new Array<number>(x.rank).fill(0);
  const after = new Array<number>(x.rank).fill(0);
  const axes = axesV?.constant?.values ?? starts.constant!.values.map((_, i) => i);
  axes.forEach((axisRaw, i) => {
    const axis = normAxis(axisRaw, x.rank);
    const size = x.dim(axis);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
    const start = clamp(starts.constant!.values[i]!);
    before[axis] = start;
    after[axis] = size - Math.max(start, clamp(ends.constant!.values[i]!));
  });
  return pad(g, before, after);
}

/** Reshape `g` to `shape`, copying matching symbolic dims (0) and inferring at most one other (-1). */
function reshapeTo(g: Value, shape: Shape): Value {
  const spec = shape.map((d, i) => (typeof d === "number" ? d : g.shape[i] === d ? 0 : -1));
  if (spec.filter((d) => d === -1).length > 1) {
    throw new Error(`cannot reshape [${g.shape}] back to [${shape}]: more than one symbolic dim moved`);
  }
  return reshape(g, spec);
}

function permOf(x: Value, attrs: Attrs): number[] {
  return attrInts(attrs, "perm") ?? range(x.rank).reverse();
}

function inversePermutation(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}

function axesOf(x: Value, axes: number[] | undefined): number[] {
  if (!axes || axes.length === 0) return range(x.rank);
  return axes.map((a) => normAxis(a, x.rank));
}

function axisOf(attrs: Attrs, fallback = -1): number {
  return attrInt(attrs, "axis", fallback);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
