import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { FormatError } from "../src/errors.js";
import { MAX_HEADER_SIZE, parseHeader, readHeaderSize } from "../src/safetensors/header.js";
import { SafetensorsFile } from "../src/safetensors/reader.js";
import { SafetensorsWriter } from "../src/safetensors/writer.js";
import { FileStore } from "../src/store/file.js";
import { decodeToFloat32 } from "../src/tensor/tensor.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("st");
const store = new FileStore(dir);

/** An independent encoder: header JSON in the given key order, space padding to 8, data concatenated. */
function handEncode(
  tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[],
  meta?: object,
): Uint8Array {
  const header: Record<string, unknown> = meta ? { __metadata__: meta } : {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  while (json.length % 8 !== 0) json += " ";
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}

function sinkFor(name: string) {
  return store.createWriter(name);
}

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const i64 = (xs: bigint[]) => new Uint8Array(new BigInt64Array(xs).buffer);

describe("safetensors writer", () => {
  it("writes the reference layout: alignment-descending then name order, padded header, __metadata__", async () => {
    const a = { name: "b.weight", dtype: "F32", shape: [2, 2], data: f32([1, 2, 3, 4]) };
    const b = { name: "a.ids", dtype: "I64", shape: [2], data: i64([7n, -1n]) };
    const c = { name: "a.mask", dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) };
    const d = {
      name: "c.half",
      dtype: "BF16",
      shape: [1, 2],
      data: new Uint8Array([0x80, 0x3f, 0x00, 0x40]),
    };
    const scalar = { name: "s", dtype: "F32", shape: [], data: f32([5]) };
    const empty = { name: "z", dtype: "F16", shape: [0, 4], data: new Uint8Array(0) };
    const all = [a, b, c, d, scalar, empty];
    const writer = new SafetensorsWriter(sinkFor("w.safetensors"), all as never, {
      metadata: { format: "pt" },
    });
    // Reference order: 64-bit first, then 32-bit (by name), 16-bit, 8-bit.
    expect(writer.order).toEqual(["a.ids", "b.weight", "s", "c.half", "z", "a.mask"]);
    for (const name of writer.order) await writer.writeTensor(name, all.find((t) => t.name === name)!.data);
    await writer.finish();
    const bytes = readFileSync(path.join(dir, "w.safetensors"));
    const expected = handEncode([b, a, scalar, d, empty, c], { format: "pt" });
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(n % 8).toBe(0);
  });

  it("refuses out-of-order tensors, wrong byte counts and an early finish, naming the tensor", async () => {
    const specs = [
      { name: "x", dtype: "F32" as const, shape: [2] },
      { name: "y", dtype: "F32" as const, shape: [1] },
    ];
    const w1 = new SafetensorsWriter(sinkFor("bad1.safetensors"), specs, { source: "bad1" });
    await expect(w1.writeTensor("y", f32([1]))).rejects.toThrow(
      'bad1: tensor "y" written out of order; expected "x" next',
    );
    await w1.abort();
    const w2 = new SafetensorsWriter(sinkFor("bad2.safetensors"), specs, { source: "bad2" });
    await expect(w2.writeTensor("x", f32([1]))).rejects.toThrow(
      'bad2: tensor "x": got only 4 bytes, F32[2] needs 8',
    );
    await w2.abort();
    const w3 = new SafetensorsWriter(sinkFor("bad3.safetensors"), specs, { source: "bad3" });
    await w3.writeTensor("x", [f32([1]), f32([2])]);
    await expect(w3.finish()).rejects.toThrow('bad3: finished before tensor "y" was written');
    expect(await store.head("bad3.safetensors")).toBeNull();
  });
});

describe("safetensors reader", () => {
  it("reads a hand-encoded file tensor by tensor, with byte ranges", async () => {
    const t1 = { name: "w", dtype: "F32", shape: [3], data: f32([1.5, -2, 3]) };
    const t2 = { name: "ids", dtype: "I32", shape: [2], data: new Uint8Array(new Int32Array([4, 5]).buffer) };
    writeFileSync(path.join(dir, "hand.safetensors"), handEncode([t1, t2], { note: "x" }));
    const file = await SafetensorsFile.open(store, "hand.safetensors");
    expect(file.names()).toEqual(["w", "ids"]);
    expect(file.metadata).toEqual({ note: "x" });
    const w = await file.readTensor("w");
    expect(w.shape).toEqual([3]);
    expect([...decodeToFloat32(w.data, "F32")]).toEqual([1.5, -2, 3]);
    expect([...(await file.readBytes("w", { start: 4, end: 8 }))]).toEqual([...f32([-2])]);
    await expect(file.readTensor("nope")).rejects.toThrow(`hand.safetensors: no tensor "nope"`);
  });

  it("reads many tensors in coalesced spans, equal to reading them one by one", async () => {
    const specs = ["a", "b", "c", "d", "e"].map((name, i) => ({
      name,
      dtype: "F32",
      shape: [i + 2],
      data: f32(Array.from({ length: i + 2 }, (_, k) => i * 10 + k)),
    }));
    writeFileSync(path.join(dir, "many.safetensors"), handEncode(specs));
    const file = await SafetensorsFile.open(store, "many.safetensors");
    for (const maxSpanBytes of [1 << 30, 24, 1]) {
      const all = await file.readTensors(undefined, { maxSpanBytes });
      expect([...all.keys()]).toEqual(["a", "b", "c", "d", "e"]);
      for (const spec of specs) {
        const t = all.get(spec.name)!;
        expect(t.shape).toEqual(spec.shape);
        expect([...t.data]).toEqual([...(await file.readTensor(spec.name)).data]);
      }
    }
    const subset = await file.readTensors(["e", "b"]);
    expect([...subset.keys()]).toEqual(["b", "e"]);
    expect([...decodeToFloat32(subset.get("e")!.data, "F32")]).toEqual([40, 41, 42, 43, 44, 45]);
    await expect(file.readTensors(["zz"])).rejects.toThrow(`many.safetensors: no tensor "zz"`);
  });

  it("accepts unpadded headers from other writers", async () => {
    const data = f32([1]);
    const json = JSON.stringify({ t: { dtype: "F32", shape: [1], data_offsets: [0, 4] } });
    const out = new Uint8Array(8 + json.length + 4);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(new TextEncoder().encode(json), 8);
    out.set(data, 8 + json.length);
    writeFileSync(path.join(dir, "unpadded.safetensors"), out);
    const file = await SafetensorsFile.open(store, "unpadded.safetensors");
    expect([...(await file.readBytes("t"))]).toEqual([...data]);
  });
});

/** Parse a whole file's bytes as the reader does. */
function parseBytes(bytes: Uint8Array, source = "f.safetensors") {
  const n = readHeaderSize(bytes, bytes.length, source);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.length, source);
}

function withHeader(header: string, dataBytes: number): Uint8Array {
  const out = new Uint8Array(8 + header.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(new TextEncoder().encode(header), 8);
  return out;
}

describe("malformed safetensors", () => {
  const cases: [string, Uint8Array, string][] = [
    [
      "shorter than 8 bytes",
      new Uint8Array(5),
      "f.safetensors: not a safetensors file: 5 bytes is shorter than the 8-byte header size",
    ],
    ["bad JSON", withHeader("{not json}", 0), "f.safetensors: header is not valid JSON"],
    ["not an object", withHeader("[1,2]   ", 0), "f.safetensors: header does not start with '{'"],
    [
      "overlapping offsets",
      withHeader(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        8,
      ),
      'f.safetensors: tensor "b": data_offsets [4, 8] overlap the previous tensor',
    ],
    [
      "gap between tensors",
      withHeader(
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
        12,
      ),
      'f.safetensors: tensor "b": data_offsets [8, 12] leave a gap after byte 4',
    ],
    [
      "wrong byte count",
      withHeader('{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}', 8),
      'f.safetensors: tensor "a": holds 8 bytes but F16[3] needs 6',
    ],
    [
      "unknown dtype",
      withHeader('{"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}', 4),
      'f.safetensors: tensor "a": unknown dtype "F17"',
    ],
    [
      "truncated data",
      withHeader('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', 10),
      "f.safetensors: header describes",
    ],
    [
      "trailing bytes",
      withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 6),
      "(trailing bytes)",
    ],
    [
      "duplicate tensor",
      withHeader(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        2,
      ),
      'f.safetensors: tensor "a" appears twice in the header',
    ],
    [
      "sub-byte size",
      withHeader('{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', 2),
      'f.safetensors: tensor "a": 3 elements of F4 are not a whole number of bytes',
    ],
    [
      "non-string metadata",
      withHeader('{"__metadata__":{"k":1}}', 0),
      'f.safetensors: __metadata__ key "k" is not a string',
    ],
    [
      "negative offsets",
      withHeader('{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', 0),
      'f.safetensors: tensor "a": data_offsets must be [begin, end] non-negative integers',
    ],
  ];
  for (const [label, bytes, message] of cases) {
    it(`rejects ${label}`, () => {
      expect(() => parseBytes(bytes)).toThrow(FormatError);
      expect(() => parseBytes(bytes)).toThrow(message);
    });
  }

  it("rejects a header size past the limit and one past the end of the file", () => {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, BigInt(MAX_HEADER_SIZE + 1), true);
    expect(() => parseBytes(huge)).toThrow(`header size ${MAX_HEADER_SIZE + 1} exceeds the limit`);
    const past = new Uint8Array(16);
    new DataView(past.buffer).setBigUint64(0, 100n, true);
    expect(() => parseBytes(past)).toThrow(
      "header size 100 runs past the end of the file (16 bytes): truncated?",
    );
  });

  it("rejects a truncated file on open, naming the file", async () => {
    const good = handEncode([{ name: "w", dtype: "F32", shape: [4], data: f32([1, 2, 3, 4]) }]);
    writeFileSync(path.join(dir, "trunc.safetensors"), good.subarray(0, good.length - 3));
    await expect(SafetensorsFile.open(store, "trunc.safetensors")).rejects.toThrow(
      /trunc\.safetensors: header describes \d+ bytes but the file has \d+ \(truncated\)/,
    );
  });

  it("fuzz: every mutation of a valid file either parses to a consistent layout or fails with a FormatError", () => {
    const valid = handEncode(
      [
        { name: "a", dtype: "F32", shape: [2, 3], data: new Uint8Array(24) },
        { name: "b", dtype: "BF16", shape: [5], data: new Uint8Array(10) },
        { name: "c", dtype: "I64", shape: [], data: new Uint8Array(8) },
      ],
      { format: "pt" },
    );
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const jsonStart = 8;
    const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
    const alphabet = '{}[]",:0123456789-eE.ntfalsru \\ "FUIB';
    let accepted = 0;
    let rejected = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = valid.slice();
      const kind = rand(5);
      let input: Uint8Array = bytes;
      if (kind === 0) {
        for (let k = 0; k <= rand(3); k++)
          bytes[jsonStart + rand(headerLength)] = alphabet.charCodeAt(rand(alphabet.length));
      } else if (kind === 1) {
        input = bytes.subarray(0, rand(bytes.length));
      } else if (kind === 2) {
        bytes[rand(8)] = rand(256);
      } else if (kind === 3) {
        bytes[jsonStart + rand(headerLength)] = rand(256);
      } else {
        const text = new TextDecoder()
          .decode(bytes.subarray(8, 8 + headerLength))
          .replace(/\d+/, String(rand(40)));
        const enc = new TextEncoder().encode(text);
        input = new Uint8Array(8 + enc.length + 42);
        new DataView(input.buffer).setBigUint64(0, BigInt(enc.length), true);
        input.set(enc, 8);
      }
      try {
        const h = parseBytes(input);
        accepted++;
        let end = 0;
        for (const t of h.tensors) {
          expect(t.begin).toBe(end);
          end = t.end;
        }
        expect(h.dataStart + end).toBe(input.length);
      } catch (err) {
        if (!(err instanceof FormatError)) throw new Error(`trial ${trial}: non-format error ${String(err)}`);
        expect((err as Error).message.startsWith("f.safetensors: ")).toBe(true);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
    expect(accepted).toBeGreaterThan(0);
  });
});
