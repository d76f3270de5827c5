/**
 * A small typed graph IR that encodes to ONNX. Every value carries its dtype and its shape (numbers for
 * static dimensions, strings for symbolic ones such as "batch"), every node is a standard ONNX op whose
 * output types were inferred by the op's shape rule in `ops.ts` when it was added. That is what a reverse-mode
 * differentiator needs: walk `nodes` backwards, look up a vector-Jacobian rule per `op`, and build the
 * gradient nodes with the same helpers.
 */
import { inferOp } from "./ops.js";

export type DataType = "float32" | "float16" | "float64" | "int64" | "int32" | "bool";
export type Dim = number | string;
export type Shape = readonly Dim[];

export type ConstantData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Uint8Array
  | Uint16Array;

export type AttrValue =
  | { kind: "int"; value: number }
  | { kind: "ints"; value: number[] }
  | { kind: "float"; value: number }
  | { kind: "floats"; value: number[] }
  | { kind: "string"; value: string };

export type Attrs = Readonly<Record<string, AttrValue>>;

export interface TensorType {
  dtype: DataType;
  shape: Shape;
}

export class Value implements TensorType {
  constructor(
    readonly graph: Graph,
    public name: string,
    readonly dtype: DataType,
    readonly shape: Shape,
    /** The node that computes this value; null for graph inputs and constants. */
    readonly producer: Node | null,
    /** Values of a constant (an initializer), kept so shape rules can read e.g. a Reshape target. */
    readonly constant: { data: ConstantData; values: number[] } | null = null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  /** The static size of axis `axis` (negative counts from the end); throws if it is symbolic. */
  dim(axis: number): number {
    const d = this.shape[axis < 0 ? this.shape.length + axis : axis];
    if (typeof d !== "number") throw new Error(`${this.name}: axis ${axis} is not static (${String(d)})`);
    return d;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(",")}]`;
  }
}

export interface Node {
  readonly op: string;
  readonly domain: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Attrs;
}

export const DTYPE_ELEMENT_BYTES: Record<DataType, number> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  bool: 1,
};

export function staticSize(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return null;
    n *= d;
  }
  return n;
}

function constantArray(dtype: DataType, values: readonly number[]): ConstantData {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "float64":
      return Float64Array.from(values);
    case "int64":
      return BigInt64Array.from(values, (v) => BigInt(v));
    case "int32":
      return Int32Array.from(values);
    case "bool":
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case "float16":
      throw new Error("float16 constants are not supported; make a float32 constant and Cast it");
  }
}

export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: Node[] = [];
  readonly constants: Value[] = [];
  private readonly names = new Set<string>();
  private readonly constantCache = new Map<string, Value>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A graph input (a feed). Weights are inputs too, so one compiled graph serves every checkpoint. */
  input(name: string, dtype: DataType, shape: Shape): Value {
    this.claim(name);
    const v = new Value(this, name, dtype, [...shape], null);
    this.inputs.push(v);
    return v;
  }

  /** A constant tensor (an ONNX initializer). Identical constants are shared. */
  constant(dtype: DataType, shape: readonly number[], values: readonly number[]): Value {
    const size = staticSize(shape);
    if (size !== values.length)
      throw new Error(`constant of shape [${shape}] needs ${size} values, got ${values.length}`);
    const key = `${dtype}|${shape.join(",")}|${values.join(",")}`;
    const cached = this.constantCache.get(key);
    if (cached) {
      // `prune` may have dropped it from the graph; a later use brings it back.
      if (!this.constants.includes(cached)) this.constants.push(cached);
      return cached;
    }
    const v = new Value(this, this.fresh("const"), dtype, [...shape], null, {
      data: constantArray(dtype, values),
      values: [...values],
    });
    this.constants.push(v);
    this.constantCache.set(key, v);
    return v;
  }

  /** A rank-0 constant. */
  scalar(value: number, dtype: DataType = "float32"): Value {
    return this.constant(dtype, [], [value]);
  }

  /** A 1-D int64 constant, the form ONNX wants for shapes, axes and slice bounds. */
  ints(values: readonly number[]): Value {
    return this.constant("int64", [values.length], values);
  }

  /** Add one node; its output types come from the op's shape rule. */
  apply(op: string, inputs: readonly Value[], attrs: Attrs = {}, domain = ""): Value[] {
    for (const x of inputs) {
      if (x.graph !== this) throw new Error(`${op}: input ${x.name} belongs to another graph`);
    }
    const types = inferOp(op, inputs, attrs);
    const base = op.toLowerCase();
    const outputs: Value[] = [];
    const node: Node = { op, domain, inputs: [...inputs], outputs, attrs };
    for (const t of types) outputs.push(new Value(this, this.fresh(base), t.dtype, t.shape, node));
    this.nodes.push(node);
    return outputs;
  }

  /** Declare `v` a graph output named `name` (renaming it, or adding an Identity when it cannot be renamed). */
  output(v: Value, name: string): Value {
    if (v.graph !== this) throw new Error(`output ${name}: value belongs to another graph`);
    let out = v;
    if (v.name !== name) {
      if (v.producer === null || this.outputs.includes(v)) {
        [out] = this.apply("Identity", [v]) as [Value];
      }
      this.names.delete(out.name);
      this.claim(name);
      out.name = name;
    }
    this.outputs.push(out);
    return out;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: duplicate value name ${name}`);
    this.names.add(name);
  }

  private fresh(base: string): string {
    let name: string;
    do name = `${base}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }
}
