import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { parquetReadObjects } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { DatasetError, formatIssue } from "../src/data/issues.js";
import { inspectMiaRows, inspectTaskRows, loadMiaRows, loadTaskRows } from "../src/data/load.js";
import { encodeMmluCsv, inspectMmlu, loadMmlu, parseMmluCsv, writeMmlu } from "../src/data/mmlu.js";
import type { TaskRow } from "../src/data/schema.js";
import { synthesize } from "../src/data/synth/dataset.js";
import { writeSynthDataset } from "../src/data/synth/write.js";
import { writeMiaRows, writeTaskRows } from "../src/data/write.js";
import { FormatError, NotFoundError } from "../src/errors.js";
import { openStore } from "../src/store/open.js";
import { createTestBucket, s3 } from "./helpers/s3.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("data-loaders");

const ROWS: TaskRow[] = [
  {
    id: '"2ebbbb06-0a5f-4c5c-9c8e-5a1cc7178a82"sc1',
    input: "Once, a",
    output: "fox.",
    task: "Task1",
    split: "forget",
  },
  {
    id: "90a0db01-3c1b-4f7a-8e0d-1b2c3d4e9f6fqa0",
    input: "When?",
    output: "1976-03-29",
    task: "Task2",
    split: "forget",
  },
  { id: "67148749qa0", input: "Où est né Zoë?", output: "Kraków", task: "Task3", split: "retain" },
];

function file(name: string, content: string | Uint8Array): string {
  const p = path.join(root, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}

/** A parquet file written with hyparquet-writer directly, string columns as given. */
function parquetFile(name: string, columns: Record<string, (string | null)[]>, extra: object[] = []): string {
  const columnData = [
    ...Object.entries(columns).map(([col, data]) => ({ name: col, data, type: "STRING" as const })),
    ...extra,
  ];
  return file(
    name,
    new Uint8Array(parquetWriteBuffer({ columnData } as Parameters<typeof parquetWriteBuffer>[0])),
  );
}

function columnsOf(rows: TaskRow[]): Record<string, string[]> {
  return {
    id: rows.map((r) => r.id),
    input: rows.map((r) => r.input),
    output: rows.map((r) => r.output),
    task: rows.map((r) => r.task),
    split: rows.map((r) => r.split),
  };
}

describe("task loaders", () => {
  it("read the same rows from JSONL, Parquet, pandas column JSON and records JSON", async () => {
    const jsonl = file("same/rows.jsonl", ROWS.map((r) => JSON.stringify(r)).join("\r\n") + "\n\n");
    const parquet = parquetFile("same/rows.parquet", columnsOf(ROWS));
    const pandas: Record<string, Record<string, string>> = {};
    for (const [col, values] of Object.entries(columnsOf(ROWS))) {
      pandas[col] = Object.fromEntries(values.map((v, i) => [String(i), v]));
    }
    const json = file("same/rows.json", JSON.stringify(pandas));
    const records = file("same/records.json", JSON.stringify(ROWS));
    for (const source of [jsonl, parquet, json, records]) {
      expect(await loadTaskRows(source)).toEqual(ROWS);
    }
  });

  it("read gzip- and brotli-compressed Parquet", async () => {
    for (const [codec, compress] of [
      ["GZIP", (b: Uint8Array) => new Uint8Array(gzipSync(b))],
      ["BROTLI", (b: Uint8Array) => new Uint8Array(brotliCompressSync(b))],
    ] as const) {
      const bytes = parquetWriteBuffer({
        columnData: Object.entries(columnsOf(ROWS)).map(([name, data]) => ({
          name,
          data,
          type: "STRING" as const,
        })),
        codec,
        compressors: { [codec]: compress },
      });
      expect(await loadTaskRows(file(`codec/${codec}.parquet`, new Uint8Array(bytes)))).toEqual(ROWS);
    }
  });

  it("report bad Parquet rows by row index and ignore extra columns", async () => {
    const cols = columnsOf(ROWS);
    const p = parquetFile(
      "bad/rows.parquet",
      { ...cols, output: ["fox.", null, "Kraków"], task: ["Task1", "Task2", "task3"] },
      [{ name: "__index_level_0__", data: [0, 1, 2], type: "INT32" }],
    );
    const checked = await inspectTaskRows(p);
    expect(checked.rows).toEqual([ROWS[0]]);
    expect(checked.issues.map(formatIssue)).toEqual([
      `${p}: row 1: field 'output' must be a string, got null`,
      `${p}: row 2: field 'task' must be one of Task1, Task2, Task3, got "task3"`,
    ]);
    await expect(loadTaskRows(p)).rejects.toThrow(DatasetError);
    await expect(loadTaskRows(p)).rejects.toThrow(
      `${p}: 2 bad rows\n${p}: row 1: field 'output' must be a string`,
    );
  });

  it("report bad pandas column JSON rows by row key, including keys missing from a column", async () => {
    const p = file(
      "bad/columns.json",
      JSON.stringify({
        id: { "10": "67148749sc1", "11": "67148749qa0" },
        input: { "10": "Born in", "11": "Where?" },
        output: { "10": "1931.", "11": 7 },
        task: { "10": "Task3", "11": "Task3" },
        split: { "10": "forget" },
      }),
    );
    const checked = await inspectTaskRows(p);
    expect(checked.rows).toHaveLength(1);
    expect(checked.issues.map(formatIssue)).toEqual([
      `${p}: row "11": field 'output' must be a string, got number`,
      `${p}: row "11": field 'split' is missing`,
    ]);
  });

  it("name the file for file-level problems", async () => {
    await expect(loadTaskRows(file("x/rows.csv", "a,b\n"))).rejects.toThrow(
      `${path.join(root, "x/rows.csv")}: unknown data format; expected a .jsonl, .parquet or .json file`,
    );
    const notParquet = file("x/fake.parquet", "not parquet at all");
    await expect(loadTaskRows(notParquet)).rejects.toThrow(FormatError);
    await expect(loadTaskRows(notParquet)).rejects.toThrow(`${notParquet}: not a readable Parquet file`);
    const scalar = file("x/scalar.json", "42");
    await expect(loadTaskRows(scalar)).rejects.toThrow(
      `${scalar}: expected a JSON array of rows or a pandas column-oriented object, got number`,
    );
    const badColumn = file("x/badcol.json", JSON.stringify({ id: ["a"] }));
    await expect(loadTaskRows(badColumn)).rejects.toThrow(
      `${badColumn}: column 'id' must be an object of row key to value (pandas orient="columns"), got array`,
    );
    await expect(loadTaskRows(path.join(root, "x/missing.jsonl"))).rejects.toThrow(NotFoundError);
  });

  it("read through a Store key or a file:// URI", async () => {
    const p = file("store/sub/rows.jsonl", ROWS.map((r) => JSON.stringify(r)).join("\n"));
    const store = openStore(path.join(root, "store"));
    expect(await loadTaskRows("sub/rows.jsonl", { store })).toEqual(ROWS);
    expect(await loadTaskRows(pathToFileURL(p).href)).toEqual(ROWS);
    const bad = file("store/sub/bad.jsonl", JSON.stringify({ ...ROWS[0], input: 1 }));
    await expect(loadTaskRows("sub/bad.jsonl", { store })).rejects.toThrow(
      `${store.uri}/sub/bad.jsonl:1: field 'input' must be a string, got number`,
    );
    expect(bad).toContain("bad.jsonl");
  });
});

describe("writers", () => {
  it("write JSONL as one object per line in schema order", async () => {
    const p = path.join(root, "out/rows.jsonl");
    await writeTaskRows(
      p,
      ROWS.map((r) => ({ split: r.split, task: r.task, output: r.output, input: r.input, id: r.id })),
    );
    const expected = ROWS.map(
      (r) =>
        `{"id":${JSON.stringify(r.id)},"input":${JSON.stringify(r.input)},"output":${JSON.stringify(r.output)},` +
        `"task":"${r.task}","split":"${r.split}"}\n`,
    ).join("");
    expect(readFileSync(p, "utf8")).toBe(expected);
  });

  it("write Parquet that hyparquet reads back with the schema's columns", async () => {
    const p = path.join(root, "out/rows.parquet");
    await writeTaskRows(p, ROWS);
    const bytes = readFileSync(p);
    const read = await parquetReadObjects({
      file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    });
    expect(read).toEqual(ROWS);
    expect(Object.keys(read[0] as object)).toEqual(["id", "input", "output", "task", "split"]);
    expect(await loadTaskRows(p)).toEqual(ROWS);
  });

  it("write pandas column JSON and records round-trip through every format", async () => {
    const p = path.join(root, "out/rows.json");
    await writeTaskRows(p, ROWS);
    const doc = JSON.parse(readFileSync(p, "utf8"));
    expect(doc.output).toEqual({ "0": "fox.", "1": "1976-03-29", "2": "Kraków" });
    expect(await loadTaskRows(p)).toEqual(ROWS);
  });

  it("write and read MIA rows; integer ids from Parquet become strings", async () => {
    const mia = [
      { id: '"2ebbbb06"', document: "A whole document." },
      { id: "67148749", document: "Another one." },
    ];
    for (const ext of ["jsonl", "parquet", "json"]) {
      const p = path.join(root, `out/member.${ext}`);
      await writeMiaRows(p, mia);
      expect(await loadMiaRows(p)).toEqual(mia);
    }
    const p = file(
      "mia/ints.parquet",
      new Uint8Array(
        parquetWriteBuffer({
          columnData: [
            { name: "id", data: [67148749n, 5n], type: "INT64" },
            { name: "document", data: ["doc a", null], type: "STRING" },
          ],
        }),
      ),
    );
    const checked = await inspectMiaRows(p);
    expect(checked.rows).toEqual([{ id: "67148749", document: "doc a" }]);
    expect(checked.issues.map(formatIssue)).toEqual([
      `${p}: row 1: field 'document' must be a string, got null`,
    ]);
  });
});

describe("MIA loader", () => {
  it("gives one message for a file of {id, nll} rows, not one error per row", async () => {
    const file = path.join(root, "nll-rows.jsonl");
    writeFileSync(file, '{"id":"1","nll":2.5}\n{"id":"2","nll":1.5}\n{"id":"3","nll":0.5}\n');
    const err = await loadMiaRows(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toBe(
      `${file}: holds {id, nll} rows (NLLs already computed, as \`lethe-eval score --mia-member\` reads), not MIA documents {id, document}`,
    );
  });
});

describe("MMLU layout", () => {
  it("parses pandas-style CSV: quotes, commas, escaped quotes, newlines and CRLF", () => {
    const text =
      'What is 2 + 2?,3,4,5,6,B\r\n"Which, of ""these""?",a,"b\nc",d,e,D\r\n\r\nToo few,1,2,3,A\nBad answer,1,2,3,4,E\n';
    const { questions, issues } = parseMmluCsv(new TextEncoder().encode(text), "t_test.csv");
    expect(questions).toEqual([
      { question: "What is 2 + 2?", choices: ["3", "4", "5", "6"], answer: "B" },
      { question: 'Which, of "these"?', choices: ["a", "b\nc", "d", "e"], answer: "D" },
    ]);
    expect(issues.map(formatIssue)).toEqual([
      "t_test.csv:5: expected 6 columns (question, A, B, C, D, answer), got 5",
      `t_test.csv:6: field 'answer' must be one of A, B, C, D, got "E"`,
    ]);
    expect(() => parseMmluCsv(new TextEncoder().encode('ok,1,2,3,4,A\n"open,1,2,3,4,A\n'), "u.csv")).toThrow(
      "u.csv:2: unterminated quoted field",
    );
  });

  it("encodes CSV that quotes only what needs quoting", () => {
    const csv = new TextDecoder().decode(
      encodeMmluCsv([{ question: 'Mean of 1, 2 "and" 3?', choices: ["2", "1", "3", "6"], answer: "A" }]),
    );
    expect(csv).toBe('"Mean of 1, 2 ""and"" 3?",2,1,3,6,A\n');
  });

  it("loads subjects from test/<subject>_test.csv with optional dev files, and writes the same layout", async () => {
    const dir = path.join(root, "mmlu");
    file("mmlu/test/astronomy_test.csv", "Q1?,a,b,c,d,C\nQ2?,a,b,c,d,A\n");
    file("mmlu/dev/astronomy_dev.csv", "D1?,a,b,c,d,B\n");
    file("mmlu/test/anatomy_test.csv", "Q3?,a,b,c,d,D\n");
    file("mmlu/test/notes.txt", "ignored");
    const subjects = await loadMmlu(dir);
    expect(subjects.map((s) => [s.subject, s.dev.length, s.test.length])).toEqual([
      ["anatomy", 0, 1],
      ["astronomy", 1, 2],
    ]);
    const copy = path.join(root, "mmlu-copy");
    await writeMmlu(copy, subjects);
    expect(readFileSync(path.join(copy, "test/astronomy_test.csv"), "utf8")).toBe(
      "Q1?,a,b,c,d,C\nQ2?,a,b,c,d,A\n",
    );
    expect(await loadMmlu(copy)).toEqual(subjects);
    file("mmlu/test/bad_test.csv", "Q?,a,b,c,d,a\n");
    const checked = await inspectMmlu(dir);
    expect(checked.issues.map(formatIssue)).toEqual([
      `${dir}/test/bad_test.csv:1: field 'answer' must be one of A, B, C, D, got "a"`,
    ]);
    await expect(loadMmlu(path.join(root, "nothing-here"))).rejects.toThrow(
      "no test/<subject>_test.csv files",
    );
  });
});

describe.skipIf(!s3)("on S3", () => {
  it("writes a synthetic dataset to s3:// and reads every file back by URI and by store key", async () => {
    const bucket = await createTestBucket("data");
    try {
      const storeOptions = { s3: bucket.options() };
      const dataset = synthesize({ seed: 3, size: "tiny" });
      await writeSynthDataset(bucket.uri("synth"), dataset, { storeOptions });
      expect(await loadTaskRows(bucket.uri("synth/forget.parquet"), { storeOptions })).toEqual(
        dataset.forget,
      );
      const store = openStore(bucket.uri("synth"), storeOptions);
      expect(await loadTaskRows("retain.jsonl", { store })).toEqual(dataset.retain);
      expect(await loadMiaRows("nonmember.jsonl", { store })).toEqual(dataset.nonmember);
      expect(await loadMmlu("mmlu", { store })).toEqual(dataset.mmlu);
      const bad = bucket.uri("synth/bad.jsonl");
      await store.put("bad.jsonl", new TextEncoder().encode('{"id":"1sc1"}\n'));
      await expect(loadTaskRows(bad, { storeOptions })).rejects.toThrow(`${bad}:1: field 'input' is missing`);
    } finally {
      await bucket.remove();
    }
  });
});
