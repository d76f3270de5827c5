/**
 * A hand-written protobuf encoder for the part of onnx.proto this package emits: ModelProto with one
 * GraphProto of nodes, initializers (raw_data) and typed inputs/outputs. Field numbers follow onnx.proto.
 */
import { ONNX_ELEMENT_TYPE } from "./dtypes.js";
import type { AttrValue, Graph, Shape, Value } from "./ir.js";
import { OPSET_VERSION } from "./ops.js";

const IR_VERSION = 8;

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  varint(value: number | bigint): void {
    // Negative int32/int64 values are encoded as their 64-bit two's complement (10 bytes).
    let v = typeof value === "bigint" ? value : BigInt(value);
    if (v < 0n) v += 1n << 64n;
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, write: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    write(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function writeShape(w: ProtoWriter, shape: Shape): void {
  for (const d of shape) {
    w.message(1, (dim) => (typeof d === "number" ? dim.int(1, d) : dim.string(2, d)));
  }
}

function writeValueInfo(w: ProtoWriter, v: Value): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ONNX_ELEMENT_TYPE[v.dtype]);
      tensor.message(2, (shape) => writeShape(shape, v.shape));
    }),
  );
}

function writeAttribute(w: ProtoWriter, name: string, a: AttrValue): void {
  w.string(1, name);
  w.int(20, ATTR_TYPE[a.kind]);
  switch (a.kind) {
    case "float":
      w.float(2, a.value);
      return;
    case "int":
      w.int(3, a.value);
      return;
    case "string":
      w.string(4, a.value);
      return;
    case "floats":
      for (const f of a.value) w.float(7, f);
      return;
    case "ints":
      for (const i of a.value) w.int(8, i);
      return;
  }
}

function writeInitializer(w: ProtoWriter, v: Value): void {
  const data = v.constant!.data;
  for (const d of v.shape) w.int(1, d as number);
  w.int(2, ONNX_ELEMENT_TYPE[v.dtype]);
  w.string(8, v.name);
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** Serialise `graph` as an ONNX ModelProto (standard domain at opset 17, plus any extra domains used). */
export function encodeModel(graph: Graph, opts: { producer?: string } = {}): Uint8Array {
  const domains = new Set(graph.nodes.map((n) => n.domain).filter((d) => d !== ""));
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, opts.producer ?? "lethe-model");
  w.message(7, (g) => {
    graph.nodes.forEach((node, i) => {
      g.message(1, (n) => {
        for (const x of node.inputs) n.string(1, x.name);
        for (const y of node.outputs) n.string(2, y.name);
        n.string(3, `${node.op}_${i}`);
        n.string(4, node.op);
        for (const [name, a] of Object.entries(node.attrs)) n.message(5, (aw) => writeAttribute(aw, name, a));
        if (node.domain) n.string(7, node.domain);
      });
    });
    g.string(2, graph.name);
    for (const c of graph.constants) g.message(5, (t) => writeInitializer(t, c));
    for (const x of graph.inputs) g.message(11, (vi) => writeValueInfo(vi, x));
    for (const y of graph.outputs) g.message(12, (vi) => writeValueInfo(vi, y));
  });
  w.message(8, (op) => {
    op.string(1, "");
    op.int(2, OPSET_VERSION);
  });
  for (const domain of domains) {
    w.message(8, (op) => {
      op.string(1, domain);
      op.int(2, 1);
    });
  }
  return w.finish();
}
