import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runDataCli } from "../src/data/cli.js";
import { loadMiaRows, loadTaskRows } from "../src/data/load.js";
import { synthesize } from "../src/data/synth/dataset.js";
import { writeSynthDataset } from "../src/data/synth/write.js";
import { runBin } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

// Spawned tests need the built bin (`pnpm exec tsc -b packages/core`; `pnpm test` builds first).
const root = tempDir("data-cli");
const lethe = (args: string[]) => runBin("core", "lethe-data", args);

async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runDataCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

const GOOD_ROW = { id: "67148749sc1", input: "a", output: "b", task: "Task3", split: "forget" };

describe("lethe-data (built bin)", () => {
  it("exits 2 with the usage on stderr when called without a command", async () => {
    const bare = await lethe([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe("");
    expect(bare.stderr).toContain("lethe-data synth --out DIR --seed N [--size tiny|small]");
  });

  it("synth writes the same bytes as the library, and validate accepts every file", async () => {
    const out = path.join(root, "synth");
    const r = await lethe(["synth", "--out", out, "--seed", "5", "--size", "tiny"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const forget = await loadTaskRows(path.join(out, "forget.jsonl"));
    const retain = await loadTaskRows(path.join(out, "retain.jsonl"));
    const member = await loadMiaRows(path.join(out, "member.jsonl"));
    expect(r.stdout).toBe(
      `wrote 16 files to ${out}: forget ${forget.length} rows, retain ${retain.length} rows, ` +
        `${member.length} member / ${member.length} non-member documents, 3 MMLU subjects\n`,
    );
    const lib = path.join(root, "synth-lib");
    await writeSynthDataset(lib, synthesize({ seed: 5, size: "tiny" }));
    for (const f of readdirSync(out, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())) {
      const rel = path.relative(out, path.join(f.parentPath, f.name));
      expect(readFileSync(path.join(out, rel)), rel).toEqual(readFileSync(path.join(lib, rel)));
    }

    const files = ["forget.jsonl", "forget.parquet", "retain.parquet", "member.jsonl", "nonmember.jsonl"];
    const v = await lethe(["validate", ...files.map((f) => path.join(out, f)), path.join(out, "mmlu")]);
    expect(v.code).toBe(0);
    const lines = v.stdout.trim().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(
      new RegExp(`^${path.join(out, "forget.jsonl")}: ok, ${forget.length} task rows \\(forget: Task1 `),
    );
    expect(lines[3]).toBe(`${path.join(out, "member.jsonl")}: ok, ${member.length} MIA documents`);
    expect(lines[5]).toBe(`${path.join(out, "mmlu")}: ok, MMLU layout, 3 subjects, 24 test questions`);
  });

  it("validate reports every bad row with file and line, and exits 1", async () => {
    const bad = path.join(root, "bad.jsonl");
    writeFileSync(
      bad,
      [GOOD_ROW, { ...GOOD_ROW, id: "67148749" }, { ...GOOD_ROW, task: 3 }]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const r = await lethe(["validate", bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `${bad}:2: field 'id' must end in sc<digit> or qa<digit>, got "67148749"\n` +
        `${bad}:3: field 'task' must be one of Task1, Task2, Task3, got number\n` +
        `${bad}: 2 bad rows, 1 task rows (forget: Task1 0 sc + 0 qa, Task2 0 sc + 0 qa, Task3 1 sc + 0 qa)\n`,
    );
    const asMia = await inProcess(["validate", "--schema", "mia", bad]);
    expect(asMia.code).toBe(1);
    expect(asMia.stdout.split("\n")[0]).toBe(`${bad}:1: field 'document' is missing`);
    const missing = await inProcess(["validate", path.join(root, "nope.jsonl")]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("nope.jsonl: no such file");
  });

  it("convert (in process) goes JSONL → Parquet → pandas JSON → JSONL without changing a byte, and refuses bad rows", async () => {
    const src = path.join(root, "conv.jsonl");
    const rows = [GOOD_ROW, { ...GOOD_ROW, id: "67148749qa0", output: "Kraków, 1931" }];
    writeFileSync(src, rows.map((r) => JSON.stringify(r) + "\n").join(""));
    const pq = path.join(root, "conv.parquet");
    const js = path.join(root, "conv.json");
    const back = path.join(root, "conv-back.jsonl");
    expect((await inProcess(["convert", src, pq])).stdout).toBe(`wrote 2 task rows to ${pq}\n`);
    expect((await inProcess(["convert", pq, js])).code).toBe(0);
    expect((await inProcess(["convert", js, back])).code).toBe(0);
    expect(readFileSync(back, "utf8")).toBe(readFileSync(src, "utf8"));

    const bad = path.join(root, "conv-bad.jsonl");
    writeFileSync(bad, JSON.stringify({ ...GOOD_ROW, split: "train" }) + "\n");
    const r = await inProcess(["convert", bad, path.join(root, "conv-bad.parquet")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${bad}:1: field 'split' must be one of forget, retain, got "train"\n${bad}: 1 bad row; nothing written\n`,
    );
    expect(existsSync(path.join(root, "conv-bad.parquet"))).toBe(false);
  });
});

describe("lethe-data (in process)", () => {
  it("prints help, and exits 2 on usage errors with the reason on stderr", async () => {
    const help = await inProcess(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("lethe-data synth --out DIR --seed N [--size tiny|small]");
    const unknown = await inProcess(["frob"]);
    expect(unknown).toEqual({
      code: 2,
      stdout: "",
      stderr: 'lethe-data: unknown command "frob"\nRun "lethe-data --help" for usage.\n',
    });
    const noSeed = await inProcess(["synth", "--out", path.join(root, "x")]);
    expect(noSeed.code).toBe(2);
    expect(noSeed.stderr).toContain("lethe-data: synth needs --seed N");
    expect(existsSync(path.join(root, "x"))).toBe(false);
  });

  it("rejects bad option values with exit 2", async () => {
    const out = path.join(root, "never");
    expect(await inProcess(["synth", "--out", out, "--seed", "1.5"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        'lethe-data: --seed must be a non-negative integer, got "1.5"\nRun "lethe-data --help" for usage.\n',
    });
    expect((await inProcess(["synth", "--out", out, "--seed", "1", "--size", "huge"])).stderr).toContain(
      '--size must be one of tiny, small, got "huge"',
    );
    expect((await inProcess(["validate", "--bogus", "x.jsonl"])).code).toBe(2);
    expect((await inProcess(["validate"])).stderr).toContain("validate needs at least one FILE");
    expect((await inProcess(["convert", "a.jsonl", "b.txt"])).stderr).toContain(
      "b.txt: unknown data format; expected a .jsonl, .parquet or .json file",
    );
    expect(existsSync(out)).toBe(false);
  });

  it("validates an MMLU CSV file and refuses a path that is neither a data file nor an MMLU directory", async () => {
    const csv = path.join(root, "x_test.csv");
    writeFileSync(csv, 'Q?,1,2,3,4,A\n"Q, 2?",1,2,3,4,F\n');
    expect(await inProcess(["validate", csv])).toEqual({
      code: 1,
      stdout: `${csv}:2: field 'answer' must be one of A, B, C, D, got "F"\n${csv}: 1 bad row, 1 questions\n`,
      stderr: "",
    });
    const dir = path.join(root, "empty-dir");
    expect((await inProcess(["validate", dir])).stdout).toBe(
      `${dir}: not a .jsonl, .parquet, .json or .csv file, nor an MMLU directory (no test/*_test.csv)\n`,
    );
  });

  it("fills a missing split with --split and reads pandas column JSON", async () => {
    const p = path.join(root, "nosplit.json");
    const { split: _, ...row } = GOOD_ROW;
    writeFileSync(
      p,
      JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, { "0": v }]))),
    );
    expect((await inProcess(["validate", p])).stdout).toBe(
      `${p}: row "0": field 'split' is missing\n${p}: 1 bad row, 0 task rows\n`,
    );
    const filled = await inProcess(["validate", "--split", "retain", p]);
    expect(filled.code).toBe(0);
    expect(filled.stdout).toBe(
      `${p}: ok, 1 task rows (retain: Task1 0 sc + 0 qa, Task2 0 sc + 0 qa, Task3 1 sc + 0 qa)\n`,
    );
  });
});

describe("lethe-data synth over an existing dataset", () => {
  it("refuses without --force, naming a file that is there, and overwrites with it", async () => {
    const out = path.join(root, "again");
    expect((await inProcess(["synth", "--out", out, "--seed", "1"])).code).toBe(0);
    writeFileSync(path.join(out, "forget.jsonl"), "edited\n");
    const refused = await inProcess(["synth", "--out", out, "--seed", "2"]);
    expect(refused).toEqual({
      code: 1,
      stdout: "",
      stderr: `lethe-data: ${out}: already exists and is not empty (README.md); pass --force to overwrite the dataset there\n`,
    });
    expect(readFileSync(path.join(out, "forget.jsonl"), "utf8")).toBe("edited\n");
    const forced = await inProcess(["synth", "--out", out, "--seed", "1", "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(path.join(out, "forget.jsonl"), "utf8")).not.toBe("edited\n");
  });
});
