/** Merging from and to the local S3 server gives the same bytes as merging files. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { openCheckpoint } from "@lethe/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestBucket, s3, type TestBucket } from "../../core/test/helpers/s3.js";
import { configFromText } from "../src/config/load.js";
import { merge } from "../src/execute.js";
import { type TestTensor, writeModel } from "./helpers/checkpoints.js";
import { refRound } from "./helpers/reference.js";
import { rng } from "./helpers/tensors.js";

function model(seed: number, base?: TestTensor[]): TestTensor[] {
  const r = rng(seed);
  const shapes: [string, number[]][] = [
    ["model.embed_tokens.weight", [32, 16]],
    ["model.layers.0.mlp.up_proj.weight", [40, 16]],
    ["model.layers.1.mlp.up_proj.weight", [40, 16]],
    ["model.norm.weight", [16]],
  ];
  return shapes.map(([name, shape], k) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = base
      ? base[k]!.values.map((v) => refRound(v + (Math.floor(r() * 7) - 3) * 2 ** -9, "BF16"))
      : Array.from({ length: n }, () => refRound((r() - 0.5) * 0.2, "BF16"));
    return { name, dtype: "BF16", shape, values };
  });
}

describe.skipIf(!s3)("merging on S3", () => {
  let dir = "";
  let bucket: TestBucket;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "lethe-merger-s3-"));
    bucket = await createTestBucket("merger");
  });
  afterAll(async () => {
    await bucket?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads inputs from s3:// and publishes to s3:// exactly what it does with files", async () => {
    const store = { s3: bucket.options() };
    const base = model(1);
    const tensors = [base, model(2, base), model(3, base)];
    const names = ["base", "ft-a", "ft-b"];
    for (const [i, t] of tensors.entries()) {
      await writeModel(path.join(dir, names[i]!), t, { tokenizer: i === 0 });
      await writeModel(bucket.uri(`in/${names[i]}`), t, { tokenizer: i === 0, maxShardBytes: 1500, store });
    }
    const yaml = (root: (name: string) => string) => `
merge_method: dare_ties
base_model: ${root("base")}
models:
  - model: ${root("ft-a")}
    parameters: {weight: 0.6, density: [0.3, 0.8]}
  - model: ${root("ft-b")}
    parameters: {weight: 0.4, density: 0.5}
dtype: bfloat16
`;
    const fromFiles = configFromText(
      yaml((n) => path.join(dir, n)),
      "files.yml",
    ).config;
    const fromS3 = configFromText(
      yaml((n) => bucket.uri(`in/${n}`)),
      "s3.yml",
    ).config;
    await merge(fromFiles, path.join(dir, "out"), { threads: 1 });
    await merge(fromS3, bucket.uri("out/merged"), { threads: 2, store });
    await merge(fromS3, path.join(dir, "out-from-s3"), { threads: 1, store });

    const local = await openCheckpoint(path.join(dir, "out"));
    const remote = await openCheckpoint(bucket.uri("out/merged"), store);
    const mixed = await openCheckpoint(path.join(dir, "out-from-s3"));
    const weightsOf = async (ck: typeof local) => {
      const out = new Map<string, string>();
      for (const name of ck.weights!.names())
        out.set(name, Buffer.from((await ck.weights!.readTensor(name)).data).toString("hex"));
      return out;
    };
    const expected = await weightsOf(local);
    expect(await weightsOf(remote)).toEqual(expected);
    expect(await weightsOf(mixed)).toEqual(expected);
    expect(remote.manifest!.parents.sort()).toEqual(names.map((n) => bucket.uri(`in/${n}`)).sort());
    expect((await bucket.keys("out/merged/")).sort()).toEqual(
      expect.arrayContaining([
        "out/merged/lethe.json",
        "out/merged/model.safetensors",
        "out/merged/tokenizer.json",
        "out/merged/README.md",
      ]),
    );
  });
});
