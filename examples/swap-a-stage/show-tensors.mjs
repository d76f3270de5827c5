#!/usr/bin/env node
/**
 * Lists the tensors of a safetensors file (what `lethe-train grad` or `lethe-model forward` wrote): name, dtype,
 * shape, and for float tensors max |x| (a scalar is printed as its value). With --minus OTHER, float tensors
 * show max |x − other| instead (same name in OTHER). `lethe-ckpt inspect` does the listing for checkpoint
 * directories; a single dump file is read here with @lethe/core's reader.
 *
 *   node show-tensors.mjs FILE.safetensors [--match REGEX] [--minus OTHER.safetensors]
 */
import { basename, dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { decodeToFloat32, isFloatDType, openStore, SafetensorsFile } from "@lethe/core";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { match: { type: "string", default: "" }, minus: { type: "string" } },
});
if (positionals.length !== 1) {
  process.stderr.write("usage: node show-tensors.mjs FILE.safetensors [--match REGEX] [--minus OTHER]\n");
  process.exit(2);
}
const open = (file) => {
  const path = resolve(file);
  return SafetensorsFile.open(openStore(dirname(path)), basename(path));
};
const floats = async (st, t) => decodeToFloat32((await st.readTensor(t.name)).data, t.dtype);
const maxAbs = (x, y) => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - (y ? y[i] : 0)));
  return m.toExponential(3);
};

const st = await open(positionals[0]);
const other = values.minus ? await open(values.minus) : null;
const match = new RegExp(values.match);
const entries = st.tensors.filter((t) => match.test(t.name));
const width = Math.max(...entries.map((t) => t.name.length));
for (const t of entries) {
  let summary = "";
  if (isFloatDType(t.dtype)) {
    const x = await floats(st, t);
    if (other?.has(t.name))
      summary = `max |x − other| ${maxAbs(x, await floats(other, other.entry(t.name)))}`;
    else summary = x.length === 1 ? `= ${x[0]}` : `max |x| ${maxAbs(x)}`;
  }
  process.stdout.write(`${t.name.padEnd(width)}  ${t.dtype.padEnd(3)} [${t.shape.join(", ")}]  ${summary}\n`);
}
process.stdout.write(`${entries.length} of ${st.tensors.length} tensors\n`);
