import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadMiaRows, loadTaskRows } from "../src/data/load.js";
import { loadMmlu, type MmluQuestion } from "../src/data/mmlu.js";
import { type MiaRow, TASKS, type TaskRow } from "../src/data/schema.js";
import { synthesize } from "../src/data/synth/dataset.js";
import { writeSynthDataset } from "../src/data/synth/write.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("data-synth");

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

// The kind/index/document split of an id, written out here rather than taken from the library.
function parseId(id: string): { doc: string; kind: string; index: number } {
  return { doc: id.slice(0, -3), kind: id.slice(-3, -1), index: Number(id.slice(-1)) };
}

const OUT = { a: "", b: "", other: "", small: "" };

beforeAll(async () => {
  OUT.a = path.join(root, "a");
  OUT.b = path.join(root, "b");
  OUT.other = path.join(root, "other");
  OUT.small = path.join(root, "small");
  await writeSynthDataset(OUT.a, synthesize({ seed: 11, size: "tiny" }));
  await writeSynthDataset(OUT.b, synthesize({ seed: 11, size: "tiny" }));
  await writeSynthDataset(OUT.other, synthesize({ seed: 12, size: "tiny" }));
  await writeSynthDataset(OUT.small, synthesize({ seed: 11, size: "small" }));
});

describe("synthetic data: determinism", () => {
  it("writes identical bytes for the same seed and different data for another seed", () => {
    const files = filesUnder(OUT.a);
    expect(files).toEqual(filesUnder(OUT.b));
    for (const f of files)
      expect(readFileSync(path.join(OUT.b, f)), f).toEqual(readFileSync(path.join(OUT.a, f)));
    for (const f of ["forget.jsonl", "forget.parquet", "retain.jsonl", "nonmember.jsonl", "corpus.txt"]) {
      expect(readFileSync(path.join(OUT.other, f)), f).not.toEqual(readFileSync(path.join(OUT.a, f)));
    }
  });

  it("generates the tiny set in well under a second", () => {
    const start = performance.now();
    synthesize({ seed: 99, size: "tiny" });
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it("writes the promised files", () => {
    expect(filesUnder(OUT.a)).toEqual([
      "README.md",
      "corpus.txt",
      "dataset.json",
      "documents.jsonl",
      "forget.jsonl",
      "forget.parquet",
      "member.jsonl",
      "mmlu/dev/elementary_mathematics_dev.csv",
      "mmlu/dev/high_school_computer_science_dev.csv",
      "mmlu/dev/high_school_statistics_dev.csv",
      "mmlu/test/elementary_mathematics_test.csv",
      "mmlu/test/high_school_computer_science_test.csv",
      "mmlu/test/high_school_statistics_test.csv",
      "nonmember.jsonl",
      "retain.jsonl",
      "retain.parquet",
    ]);
  });
});

for (const size of ["tiny", "small"] as const) {
  describe(`synthetic data (${size}): structure`, () => {
    let forget: TaskRow[];
    let retain: TaskRow[];
    let member: MiaRow[];
    let nonmember: MiaRow[];
    const dir = () => (size === "tiny" ? OUT.a : OUT.small);

    beforeAll(async () => {
      forget = await loadTaskRows(path.join(dir(), "forget.jsonl"));
      retain = await loadTaskRows(path.join(dir(), "retain.jsonl"));
      member = await loadMiaRows(path.join(dir(), "member.jsonl"));
      nonmember = await loadMiaRows(path.join(dir(), "nonmember.jsonl"));
    });

    it("validates in both formats, with the same rows in JSONL and Parquet", async () => {
      expect(await loadTaskRows(path.join(dir(), "forget.parquet"))).toEqual(forget);
      expect(await loadTaskRows(path.join(dir(), "retain.parquet"))).toEqual(retain);
      const perSplit = size === "tiny" ? [20, 60] : [150, 400];
      for (const rows of [forget, retain]) {
        expect(rows.length).toBeGreaterThanOrEqual(perSplit[0] as number);
        expect(rows.length).toBeLessThanOrEqual(perSplit[1] as number);
      }
    });

    it("has both splits, all three tasks and both kinds, with unique ids of the real shapes", () => {
      expect(new Set(forget.map((r) => r.split))).toEqual(new Set(["forget"]));
      expect(new Set(retain.map((r) => r.split))).toEqual(new Set(["retain"]));
      const ids = [...forget, ...retain].map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const rows of [forget, retain]) {
        for (const task of TASKS) {
          const kinds = new Set(rows.filter((r) => r.task === task).map((r) => parseId(r.id).kind));
          expect(kinds, task).toEqual(new Set(["sc", "qa"]));
        }
        for (const r of rows) {
          const shape = {
            Task1: /^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"(sc|qa)[0-9]$/,
            Task2: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}(sc|qa)[0-9]$/,
            Task3: /^[0-9]{6,8}(sc|qa)[0-9]$/,
          }[r.task];
          expect(r.id).toMatch(shape);
          expect(r.input).toMatch(/^\S(.|\n)*\S$/);
          expect(r.output).toMatch(/^\S(.|\n)*\S$|^\S$/);
        }
      }
    });

    it("gives Task2 documents five QA rows in the public order, with the public answer forms", () => {
      const docs = new Map<string, string>();
      for (const r of forget) {
        if (parseId(r.id).kind === "sc") docs.set(parseId(r.id).doc, `${r.input} ${r.output}`);
      }
      const task2 = forget.filter((r) => r.task === "Task2" && parseId(r.id).kind === "qa");
      const byDoc = new Map<string, TaskRow[]>();
      for (const r of task2) byDoc.set(parseId(r.id).doc, [...(byDoc.get(parseId(r.id).doc) ?? []), r]);
      for (const [doc, rows] of byDoc) {
        const text = docs.get(doc) as string;
        expect(rows.map((r) => parseId(r.id).index)).toEqual([0, 1, 2, 3, 4]);
        expect(rows.map((r) => /birth|born|Social|phone|email|address|live/.exec(r.input)?.[0])).toEqual([
          expect.stringMatching(/birth|born/),
          "Social",
          "phone",
          "email",
          expect.stringMatching(/address|live/),
        ]);
        const [birthday, ssn, phone, email, address] = rows.map((r) => r.output) as string[];
        // Birthday: ISO answer, "Month D, YYYY" in the text, a real calendar date.
        expect(birthday).toMatch(/^(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]$/);
        const d = new Date(`${birthday}T00:00:00Z`);
        expect(d.toISOString().slice(0, 10)).toBe(birthday);
        const month = d.toLocaleString("en-US", { month: "long", timeZone: "UTC" });
        expect(text.toLowerCase()).toContain(
          `born on ${month} ${d.getUTCDate()}, ${d.getUTCFullYear()}`.toLowerCase(),
        );
        // SSN: 900 area, digits in the answer, dashed (or bare) in the text.
        expect(ssn).toMatch(/^900[0-9]{6}$/);
        const dashed = `${ssn.slice(0, 3)}-${ssn.slice(3, 5)}-${ssn.slice(5)}`;
        expect(text.includes(dashed) || text.includes(ssn)).toBe(true);
        // Phone: 10 NANP digits in the answer, NXX-NXX-XXXX or (NXX) NXX-XXXX in the text.
        expect(phone).toMatch(/^[2-9][0-9]{2}[2-9][0-9]{6}$/);
        const [a, b, c] = [phone.slice(0, 3), phone.slice(3, 6), phone.slice(6)];
        expect(text.includes(`${a}-${b}-${c}`) || text.includes(`(${a}) ${b}-${c}`)).toBe(true);
        expect(email).toMatch(/^[a-z]+_[a-z]+@[a-z]+\.(com|net|org)$/);
        expect(text.includes(email) || text.includes(email.replace("_", "\\_"))).toBe(true);
        expect(address).toMatch(
          /^[0-9]+ [A-Z][a-z]+ [A-Z][a-z]+, (#[0-9]+, )?[A-Z][a-z]+, [A-Z]{2}, [0-9]{5}\.$/,
        );
        expect(text).toContain(address);
      }
      expect(byDoc.size).toBeGreaterThan(0);
    });

    it("makes the forget documents the MIA members and held-out documents the non-members", () => {
      const forgetDocs = new Map<string, string>();
      for (const r of forget) {
        if (parseId(r.id).kind === "sc") forgetDocs.set(parseId(r.id).doc, `${r.input} ${r.output}`);
      }
      expect(new Map(member.map((m) => [m.id, m.document]))).toEqual(forgetDocs);
      const trainingDocs = new Set([...forget, ...retain].map((r) => parseId(r.id).doc));
      expect(nonmember.length).toBe(member.length);
      for (const n of nonmember) {
        expect(trainingDocs.has(n.id)).toBe(false);
      }
      const nonmemberTexts = new Set(nonmember.map((n) => n.document));
      for (const m of member) expect(nonmemberTexts.has(m.document)).toBe(false);
      const corpus = readFileSync(path.join(dir(), "corpus.txt"), "utf8");
      let expected = "";
      for (const r of [...forget, ...retain]) {
        if (parseId(r.id).kind === "sc") expected += `${r.input} ${r.output}\n\n`;
      }
      expect(corpus).toBe(expected);
      for (const n of nonmember) expect(corpus.includes(n.document)).toBe(false);
    });

    it("counts in dataset.json match the rows", () => {
      const manifest = JSON.parse(readFileSync(path.join(dir(), "dataset.json"), "utf8"));
      for (const [split, rows] of [
        ["forget", forget],
        ["retain", retain],
      ] as const) {
        for (const task of TASKS) {
          const own = rows.filter((r) => r.task === task);
          expect(manifest.counts[split][task]).toEqual({
            documents: new Set(own.map((r) => parseId(r.id).doc)).size,
            sc: own.filter((r) => parseId(r.id).kind === "sc").length,
            qa: own.filter((r) => parseId(r.id).kind === "qa").length,
          });
        }
      }
      expect(manifest.counts.member).toBe(member.length);
      expect(manifest.seed).toBe(11);
      expect(manifest.size).toBe(size);
    });

    it("writes MMLU questions whose keyed answer is the correct option", async () => {
      const subjects = await loadMmlu(path.join(dir(), "mmlu"));
      expect(subjects.map((s) => s.subject)).toEqual([
        "elementary_mathematics",
        "high_school_computer_science",
        "high_school_statistics",
      ]);
      const letters = new Set<string>();
      for (const s of subjects) {
        expect(s.dev).toHaveLength(5);
        for (const q of [...s.dev, ...s.test]) {
          expect(["A", "B", "C", "D"]).toContain(q.answer);
          letters.add(q.answer);
          expect(new Set(q.choices).size).toBe(4);
          expect(keyed(q)).toBe(solve(q.question));
        }
      }
      if (size === "small") expect(letters).toEqual(new Set(["A", "B", "C", "D"]));
    });
  });
}

function keyed(q: MmluQuestion): string {
  return q.choices["ABCD".indexOf(q.answer)] as string;
}

/** Solve the generated question from its text alone. */
function solve(question: string): string {
  let m = /^What is (\d+) ([+-]|times) (\d+)\?$/.exec(question);
  if (m) {
    const [a, b] = [Number(m[1]), Number(m[3])];
    return String(m[2] === "+" ? a + b : m[2] === "-" ? a - b : a * b);
  }
  m = /^What is the decimal value of the binary number ([01]+)\?$/.exec(question);
  if (m) return String(Number.parseInt(m[1] as string, 2));
  m = /^Which binary number is equal to (\d+) in decimal\?$/.exec(question);
  if (m) return Number(m[1]).toString(2);
  m = /^What is the (median|range) of the data set ([\d, ]+)\?$/.exec(question);
  if (m) {
    const xs = (m[2] as string)
      .split(", ")
      .map(Number)
      .sort((x, y) => x - y);
    return String(m[1] === "median" ? xs[(xs.length - 1) / 2] : (xs.at(-1) as number) - (xs[0] as number));
  }
  throw new Error(`unexpected question: ${question}`);
}
