/**
 * The op set: standard ONNX ops (default domain, opset 17), each with its shape rule, and typed helpers that
 * add a node and return its output. Every op here has a textbook vector-Jacobian rule; nothing depends on
 * runtime shapes (no Shape/ConstantOfShape), so a differentiator can build gradient graphs from the static
 * shapes this file infers.
 */
import { isFloat, ONNX_ELEMENT_TYPE } from "./dtypes.js";
import type { Attrs, AttrValue, DataType, Dim, Shape, TensorType, Value } from "./ir.js";

export const OPSET_VERSION = 17;

type ShapeRule = (inputs: readonly Value[], attrs: Attrs) => TensorType[];

const rules = new Map<string, ShapeRule>();

/** Register a shape rule (the trainer adds the ops its gradient graphs need the same way). */
export function registerOp(op: string, rule: ShapeRule): void {
  rules.set(op, rule);
}

export function inferOp(op: string, inputs: readonly Value[], attrs: Attrs): TensorType[] {
  const rule = rules.get(op);
  if (!rule) throw new Error(`op ${op} has no shape rule`);
  try {
    return rule(inputs, attrs);
  } catch (err) {
    const args = inputs.map((x) => x.toString()).join(", ");
    throw new Error(`${op}(${args}): ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shape helpers

/** `axis` in [0, rank), counting a negative one from the end; throws when it is out of range. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === "number" && typeof b === "number") throw new Error(`cannot broadcast ${a} with ${b}`);
  if (typeof a === "number") return a;
  if (typeof b === "number") return b;
  throw new Error(`cannot broadcast symbolic dims ${a} and ${b}`);
}

export function broadcastShapes(...shapes: Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = i - (rank - s.length);
      if (k >= 0) d = broadcastDim(d, s[k]!);
    }
    out.push(d);
  }
  return out;
}

/** A product of dims as an integer coefficient times a multiset of symbols, for Reshape's -1. */
interface SymProduct {
  coef: number;
  syms: Map<string, number>;
}

function product(dims: Shape): SymProduct {
  const p: SymProduct = { coef: 1, syms: new Map() };
  for (const d of dims) {
    if (typeof d === "number") p.coef *= d;
    else for (const s of d.split("*")) p.syms.set(s, (p.syms.get(s) ?? 0) + 1);
  }
  return p;
}

function divide(a: SymProduct, b: SymProduct): Dim {
  if (a.coef % b.coef !== 0) throw new Error(`${a.coef} is not divisible by ${b.coef}`);
  const syms = new Map(a.syms);
  for (const [s, n] of b.syms) {
    const have = syms.get(s) ?? 0;
    if (have < n) throw new Error(`cannot divide out symbolic dim ${s}`);
    if (have === n) syms.delete(s);
    else syms.set(s, have - n);
  }
  const coef = a.coef / b.coef;
  if (syms.size === 0) return coef;
  const parts = [...syms.entries()].sort().flatMap(([s, n]) => Array<string>(n).fill(s));
  if (coef !== 1) parts.unshift(String(coef));
  return parts.join("*");
}

function sumDims(dims: Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, b) => a + b, 0);
  return dims.filter((d) => d !== 0).join("+");
}

function constValues(v: Value | undefined, what: string): number[] {
  if (!v?.constant) throw new Error(`${what} must be a constant`);
  return v.constant.values;
}

export function attrInt(attrs: Attrs, name: string, fallback?: number): number {
  const a = attrs[name];
  if (a === undefined) {
    if (fallback === undefined) throw new Error(`missing attribute ${name}`);
    return fallback;
  }
  if (a.kind !== "int") throw new Error(`attribute ${name} must be an int`);
  return a.value;
}

export function attrInts(attrs: Attrs, name: string): number[] | undefined {
  const a = attrs[name];
  if (a === undefined) return undefined;
  if (a.kind !== "ints") throw new Error(`attribute ${name} must be ints`);
  return a.value;
}

function same(x: Value): TensorType {
  return { dtype: x.dtype, shape: x.shape };
}

function requireSameDtype(inputs: readonly Value[]): DataType {
  const dtype = inputs[0]!.dtype;
  for (const x of inputs) if (x.dtype !== dtype) throw new Error(`dtype mismatch: ${dtype} vs ${x.dtype}`);
  return dtype;
}

function reduceShape(x: Value, axes: number[] | undefined, keepdims: boolean): Dim[] {
  const all = axes === undefined || axes.length === 0;
  const set = new Set(all ? x.shape.map((_, i) => i) : axes.map((a) => normAxis(a, x.rank)));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Shape rules

for (const op of ["Add", "Sub", "Mul", "Div", "Max", "Min"]) {
  registerOp(op, (xs) => [
    { dtype: requireSameDtype(xs), shape: broadcastShapes(...xs.map((x) => x.shape)) },
  ]);
}
registerOp("Pow", ([x, y]) => [{ dtype: x!.dtype, shape: broadcastShapes(x!.shape, y!.shape) }]);
for (const op of ["Equal", "Less", "Greater"]) {
  registerOp(op, (xs) => {
    requireSameDtype(xs);
    return [{ dtype: "bool", shape: broadcastShapes(...xs.map((x) => x.shape)) }];
  });
}
registerOp("Where", ([c, x, y]) => {
  if (c!.dtype !== "bool") throw new Error("condition must be bool");
  return [{ dtype: requireSameDtype([x!, y!]), shape: broadcastShapes(c!.shape, x!.shape, y!.shape) }];
});
for (const op of [
  "Neg",
  "Sqrt",
  "Reciprocal",
  "Exp",
  "Log",
  "Tanh",
  "Sigmoid",
  "Relu",
  "Erf",
  "Abs",
  "Identity",
]) {
  registerOp(op, ([x]) => [same(x!)]);
}
for (const op of ["Softmax", "LogSoftmax"]) {
  registerOp(op, ([x], attrs) => {
    normAxis(attrInt(attrs, "axis", -1), x!.rank);
    return [same(x!)];
  });
}
registerOp("Clip", ([x]) => [same(x!)]);
registerOp("Cast", ([x], attrs) => {
  const code = attrInt(attrs, "to");
  const dtype = (Object.keys(ONNX_ELEMENT_TYPE) as DataType[]).find((d) => ONNX_ELEMENT_TYPE[d] === code);
  if (!dtype) throw new Error(`unsupported Cast target ${code}`);
  return [{ dtype, shape: x!.shape }];
});

registerOp("MatMul", ([a, b]) => {
  const dtype = requireSameDtype([a!, b!]);
  if (a!.rank < 2 || b!.rank < 2) throw new Error("MatMul operands must have rank >= 2");
  const [m, k] = a!.shape.slice(-2) as [Dim, Dim];
  const [k2, n] = b!.shape.slice(-2) as [Dim, Dim];
  if (k !== k2 && typeof k === "number" && typeof k2 === "number")
    throw new Error(`inner dims ${k} != ${k2}`);
  const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
  return [{ dtype, shape: [...batch, m, n] }];
});

registerOp("Transpose", ([x], attrs) => {
  const perm = attrInts(attrs, "perm") ?? x!.shape.map((_, i) => x!.rank - 1 - i);
  if (perm.length !== x!.rank) throw new Error(`perm [${perm}] does not match rank ${x!.rank}`);
  return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) }];
});

registerOp("Reshape", ([x, target]) => {
  const spec = constValues(target, "Reshape shape");
  const out: Dim[] = spec.map((d, i) => {
    if (d !== 0) return d;
    if (i >= x!.rank) throw new Error(`0 at index ${i} beyond input rank`);
    return x!.shape[i]!;
  });
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.filter((_, i) => i !== unknown);
    out[unknown] = divide(product(x!.shape), product(known));
  }
  return [{ dtype: x!.dtype, shape: out }];
});

registerOp("Unsqueeze", ([x, axesV]) => {
  const rank = x!.rank + constValues(axesV, "Unsqueeze axes").length;
  const axes = new Set(constValues(axesV, "Unsqueeze axes").map((a) => normAxis(a, rank)));
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(axes.has(i) ? 1 : x!.shape[k++]!);
  return [{ dtype: x!.dtype, shape: out }];
});

registerOp("Squeeze", ([x, axesV]) => {
  const axes = new Set(constValues(axesV, "Squeeze axes").map((a) => normAxis(a, x!.rank)));
  for (const a of axes) if (x!.shape[a] !== 1) throw new Error(`axis ${a} has size ${x!.shape[a]}, not 1`);
  return [{ dtype: x!.dtype, shape: x!.shape.filter((_, i) => !axes.has(i)) }];
});

registerOp("Expand", ([x, target]) => {
  // A target computed at run time must be Shape(y): then the result has y's (possibly symbolic) shape.
  const like = target!.producer?.op === "Shape" ? target!.producer.inputs[0]!.shape : null;
  return [{ dtype: x!.dtype, shape: broadcastShapes(x!.shape, like ?? constValues(target, "Expand shape")) }];
});

registerOp("Shape", ([x]) => [{ dtype: "int64", shape: [x!.rank] }]);

registerOp("Pad", ([x, padsV], attrs) => {
  const mode = attrs["mode"];
  if (mode !== undefined && (mode.kind !== "string" || mode.value !== "constant"))
    throw new Error("only constant padding is supported");
  const pads = constValues(padsV, "Pad pads");
  if (pads.length !== 2 * x!.rank) throw new Error(`pads has ${pads.length} values for rank ${x!.rank}`);
  const out = x!.shape.map((d, i) => {
    const extra = pads[i]! + pads[i + x!.rank]!;
    if (extra === 0) return d;
    if (typeof d !== "number") throw new Error(`cannot pad symbolic axis ${i}`);
    return d + extra;
  });
  return [{ dtype: x!.dtype, shape: out }];
});

registerOp("ScatterND", ([data, indices, updates]) => {
  if (indices!.dtype !== "int64") throw new Error("indices must be int64");
  if (updates!.dtype !== data!.dtype) throw new Error(`dtype mismatch: ${data!.dtype} vs ${updates!.dtype}`);
  return [same(data!)];
});

registerOp("ScatterElements", ([data, indices, updates], attrs) => {
  normAxis(attrInt(attrs, "axis", 0), data!.rank);
  if (indices!.rank !== data!.rank || updates!.rank !== data!.rank)
    throw new Error("data, indices and updates must have equal rank");
  return [same(data!)];
});

registerOp("Concat", (xs, attrs) => {
  const dtype = requireSameDtype(xs);
  const rank = xs[0]!.rank;
  const axis = normAxis(attrInt(attrs, "axis"), rank);
  const out = [...xs[0]!.shape];
  out[axis] = sumDims(xs.map((x) => x.shape[axis]!));
  for (const x of xs) {
    if (x.rank !== rank) throw new Error("Concat inputs must have equal rank");
    x.shape.forEach((d, i) => {
      if (i !== axis && d !== out[i]) throw new Error(`Concat dim ${i} differs: ${d} vs ${out[i]}`);
    });
  }
  return [{ dtype, shape: out }];
});

registerOp("Slice", ([x, startsV, endsV, axesV, stepsV]) => {
  const starts = constValues(startsV, "Slice starts");
  const ends = constValues(endsV, "Slice ends");
  const axes = axesV ? constValues(axesV, "Slice axes") : starts.map((_, i) => i);
  const steps = stepsV ? constValues(stepsV, "Slice steps") : starts.map(() => 1);
  const out = [...x!.shape];
  axes.forEach((axisRaw, i) => {
    const axis = normAxis(axisRaw, x!.rank);
    const size = x!.shape[axis]!;
    if (steps[i] !== 1) throw new Error("only step 1 is supported");
    if (typeof size !== "number") throw new Error(`cannot slice symbolic axis ${axis}`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
    out[axis] = Math.max(0, clamp(ends[i]!) - clamp(starts[i]!));
  });
  return [{ dtype: x!.dtype, shape: out }];
});

registerOp("Gather", ([data, indices], attrs) => {
  const axis = normAxis(attrInt(attrs, "axis", 0), data!.rank);
  return [
    {
      dtype: data!.dtype,
      shape: [...data!.shape.slice(0, axis), ...indices!.shape, ...data!.shape.slice(axis + 1)],
    },
  ];
});

registerOp("GatherElements", ([data, indices]) => [{ dtype: data!.dtype, shape: indices!.shape }]);

for (const op of ["ReduceMean", "ReduceMax"]) {
  registerOp(op, ([x], attrs) => [
    { dtype: x!.dtype, shape: reduceShape(x!, attrInts(attrs, "axes"), attrInt(attrs, "keepdims", 1) === 1) },
  ]);
}
registerOp("ReduceSum", ([x, axesV], attrs) => [
  {
    dtype: x!.dtype,
    shape: reduceShape(
      x!,
      axesV ? constValues(axesV, "ReduceSum axes") : undefined,
      attrInt(attrs, "keepdims", 1) === 1,
    ),
  },
]);

// ---------------------------------------------------------------------------------------------------------
// Typed helpers

export const attr = {
  int: (value: number): AttrValue => ({ kind: "int", value }),
  ints: (value: number[]): AttrValue => ({ kind: "ints", value }),
  float: (value: number): AttrValue => ({ kind: "float", value }),
  string: (value: string): AttrValue => ({ kind: "string", value }),
};

type Operand = Value | number;

function one(x: Value, op: string, inputs: Value[], attrs: Attrs = {}): Value {
  return x.graph.apply(op, inputs, attrs)[0]!;
}

/** Turn a number into a scalar constant of the other operand's dtype. */
function operands(a: Operand, b: Operand): [Value, Value] {
  if (typeof a === "number" && typeof b === "number") throw new Error("at least one operand must be a Value");
  const ref = (typeof a === "number" ? b : a) as Value;
  const lift = (v: Operand) => (typeof v === "number" ? ref.graph.scalar(v, ref.dtype) : v);
  return [lift(a), lift(b)];
}

function binary(op: string) {
  return (a: Operand, b: Operand): Value => {
    const [x, y] = operands(a, b);
    return one(x, op, [x, y]);
  };
}

export const add = binary("Add");
export const sub = binary("Sub");
export const mul = binary("Mul");
export const div = binary("Div");
export const pow = binary("Pow");
export const equal = binary("Equal");
export const less = binary("Less");
export const greater = binary("Greater");

export const neg = (x: Value) => one(x, "Neg", [x]);
export const sqrt = (x: Value) => one(x, "Sqrt", [x]);
export const exp = (x: Value) => one(x, "Exp", [x]);
export const log = (x: Value) => one(x, "Log", [x]);
export const sigmoid = (x: Value) => one(x, "Sigmoid", [x]);
export const identity = (x: Value) => one(x, "Identity", [x]);

export function where(cond: Value, a: Operand, b: Operand): Value {
  const [x, y] = operands(a, b);
  return one(cond, "Where", [cond, x, y]);
}

export function softmax(x: Value, axis = -1): Value {
  return one(x, "Softmax", [x], { axis: attr.int(axis) });
}

export function logSoftmax(x: Value, axis = -1): Value {
  return one(x, "LogSoftmax", [x], { axis: attr.int(axis) });
}

export function clip(x: Value, min: number, max: number): Value {
  return one(x, "Clip", [x, x.graph.scalar(min, x.dtype), x.graph.scalar(max, x.dtype)]);
}

export function cast(x: Value, to: DataType): Value {
  if (x.dtype === to) return x;
  return one(x, "Cast", [x], { to: attr.int(ONNX_ELEMENT_TYPE[to]) });
}

export function matmul(a: Value, b: Value): Value {
  return one(a, "MatMul", [a, b]);
}

export function transpose(x: Value, perm: number[]): Value {
  return one(x, "Transpose", [x], { perm: attr.ints(perm) });
}

/** Reshape to `shape`; 0 copies the input dim at that index, -1 is inferred. */
export function reshape(x: Value, shape: number[]): Value {
  return one(x, "Reshape", [x, x.graph.ints(shape)]);
}

export function unsqueeze(x: Value, axes: number[]): Value {
  return one(x, "Unsqueeze", [x, x.graph.ints(axes)]);
}

export function squeeze(x: Value, axes: number[]): Value {
  return one(x, "Squeeze", [x, x.graph.ints(axes)]);
}

/** Broadcast `x` against `shape` (numpy rules; 1s in `shape` keep x's dims). */
export function expand(x: Value, shape: number[]): Value {
  return one(x, "Expand", [x, x.graph.ints(shape)]);
}

export function concat(xs: Value[], axis: number): Value {
  return one(xs[0]!, "Concat", xs, { axis: attr.int(axis) });
}

/** x[start:end] along `axis` (step 1). */
export function slice(x: Value, axis: number, start: number, end: number): Value {
  const g = x.graph;
  return one(x, "Slice", [x, g.ints([start]), g.ints([end]), g.ints([axis])]);
}

export function gather(data: Value, indices: Value, axis = 0): Value {
  return one(data, "Gather", [data, indices], { axis: attr.int(axis) });
}

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  return one(data, "GatherElements", [data, indices], { axis: attr.int(axis) });
}

export function reduceMean(x: Value, axes: number[], keepdims = true): Value {
  return one(x, "ReduceMean", [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
}

export function reduceSum(x: Value, axes: number[], keepdims = true): Value {
  return one(x, "ReduceSum", [x, x.graph.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
}

export function requireFloat(x: Value, what: string): void {
  if (!isFloat(x.dtype)) throw new Error(`${what}: expected a float tensor, got ${x.dtype}`);
}

/** The runtime shape of `x` (int64 [rank]); used only where a gradient needs a tensor shaped like a symbolic one. */
export function shapeOf(x: Value): Value {
  return one(x, "Shape", [x]);
}

/** A tensor of `x`'s dtype and shape filled with `value` (a broadcast scalar, no buffer in the model file). */
export function filledLike(x: Value, value: number): Value {
  const g = x.graph;
  const fill = g.scalar(value, x.dtype);
  const size = staticShape(x.shape);
  return one(x, "Expand", [fill, size ? g.ints(size) : shapeOf(x)]);
}

function staticShape(shape: Shape): number[] | null {
  return shape.every((d) => typeof d === "number") ? (shape as number[]) : null;
}

/** Zero padding: `before[i]` and `after[i]` elements around axis i. */
export function pad(x: Value, before: number[], after: number[]): Value {
  return one(x, "Pad", [x, x.graph.ints([...before, ...after])], { mode: attr.string("constant") });
}

/** data with updates added at the index tuples in the last axis of `indices` (duplicates accumulate). */
export function scatterNDAdd(data: Value, indices: Value, updates: Value): Value {
  return one(data, "ScatterND", [data, indices, updates], { reduction: attr.string("add") });
}

/** data with updates added along `axis` at `indices` (duplicates accumulate). */
export function scatterElementsAdd(data: Value, indices: Value, updates: Value, axis: number): Value {
  return one(data, "ScatterElements", [data, indices, updates], {
    axis: attr.int(axis),
    reduction: attr.string("add"),
  });
}
