import { describe, expect, it } from "vitest";
import { DatasetError, formatIssue } from "../src/data/issues.js";
import { checkMiaRecords, checkTaskRecords } from "../src/data/load.js";
import { parseJsonl } from "../src/data/records.js";
import { documentId, rowIndex, rowKind } from "../src/data/schema.js";
import { FormatError } from "../src/errors.js";

const utf8 = new TextEncoder();

/** Check JSONL text written here against the task schema and return the formatted issues. */
function taskIssues(lines: string[]): string[] {
  const raw = parseJsonl(utf8.encode(lines.join("\n")), "forget.jsonl");
  return checkTaskRecords(raw, "forget.jsonl").issues.map(formatIssue);
}

const good = {
  id: "67148749sc1",
  input: "A prefix",
  output: "its continuation",
  task: "Task3",
  split: "forget",
};

describe("rowKind", () => {
  it("reads the kind of each real id form, as id[:-1].endswith(...) does", () => {
    const ids: [string, "sc" | "qa", number, string][] = [
      ['"2ebbbb06-0a5f-4c5c-9c8e-5a1cc7178a82"sc1', "sc", 1, '"2ebbbb06-0a5f-4c5c-9c8e-5a1cc7178a82"'],
      ['"2ebbbb06-0a5f-4c5c-9c8e-5a1cc7178a82"qa0', "qa", 0, '"2ebbbb06-0a5f-4c5c-9c8e-5a1cc7178a82"'],
      ["90a0db01-3c1b-4f7a-8e0d-1b2c3d4e9f6fsc1", "sc", 1, "90a0db01-3c1b-4f7a-8e0d-1b2c3d4e9f6f"],
      ["90a0db01-3c1b-4f7a-8e0d-1b2c3d4e9f6fqa4", "qa", 4, "90a0db01-3c1b-4f7a-8e0d-1b2c3d4e9f6f"],
      ["67148749sc1", "sc", 1, "67148749"],
      ["67148749qa0", "qa", 0, "67148749"],
    ];
    for (const [id, kind, index, doc] of ids) {
      // The scorer's rule, written out independently: drop the last character, look at the suffix.
      const scorer = id.slice(0, -1).endsWith("sc") ? "sc" : id.slice(0, -1).endsWith("qa") ? "qa" : null;
      expect(scorer).toBe(kind);
      expect(rowKind(id)).toBe(kind);
      expect(rowIndex(id)).toBe(index);
      expect(documentId(id)).toBe(doc);
    }
  });

  it("throws a FormatError naming the id and the place for malformed ids", () => {
    expect(() => rowKind("67148749")).toThrow(FormatError);
    expect(() => rowKind("67148749")).toThrow('id "67148749" does not end in sc<digit> or qa<digit>');
    expect(() => rowKind("67148749sc12", "forget.jsonl:7")).toThrow(
      'forget.jsonl:7: id "67148749sc12" does not end in sc<digit> or qa<digit>',
    );
    expect(() => rowKind("67148749scx")).toThrow(/does not end in/);
    expect(() => documentId("abcqa", "retain.parquet: row 3")).toThrow(
      'retain.parquet: row 3: id "abcqa" does not end in sc<digit> or qa<digit>',
    );
  });
});

describe("task row schema", () => {
  it("accepts a good row and drops unknown fields", () => {
    const raw = parseJsonl(utf8.encode(JSON.stringify({ ...good, __index_level_0__: 5 })), "f.jsonl");
    const checked = checkTaskRecords(raw, "f.jsonl");
    expect(checked.issues).toEqual([]);
    expect(checked.rows).toEqual([good]);
  });

  it("reports every bad field with file and line", () => {
    const issues = taskIssues([
      JSON.stringify(good),
      "",
      JSON.stringify({ ...good, output: 3 }),
      JSON.stringify({ id: good.id, input: good.input, task: "Task4", split: "forget" }),
      JSON.stringify({ ...good, id: "67148749" }),
      JSON.stringify({ ...good, split: null }),
      "[1, 2]",
      "{not json",
    ]);
    // V8's JSON.parse wording varies between Node versions; the prefix is ours.
    expect(issues[6]).toMatch(/^forget\.jsonl:8: invalid JSON \(.+\)$/);
    expect(issues.slice(0, 6)).toEqual([
      "forget.jsonl:3: field 'output' must be a string, got number",
      "forget.jsonl:4: field 'output' is missing",
      "forget.jsonl:4: field 'task' must be one of Task1, Task2, Task3, got \"Task4\"",
      "forget.jsonl:5: field 'id' must end in sc<digit> or qa<digit>, got \"67148749\"",
      "forget.jsonl:6: field 'split' must be one of forget, retain, got null",
      "forget.jsonl:7: row must be an object, got array",
    ]);
    expect(issues).toHaveLength(7);
  });

  it("counts rows, not issues, in the DatasetError summary", () => {
    const raw = parseJsonl(
      utf8.encode([JSON.stringify({ id: "x", input: 1 }), JSON.stringify(good)].join("\n")),
      "retain.jsonl",
    );
    const { issues } = checkTaskRecords(raw, "retain.jsonl");
    expect(issues).toHaveLength(5);
    const err = new DatasetError("retain.jsonl", issues);
    expect(err.message.split("\n")).toEqual([
      "retain.jsonl: 1 bad row",
      `retain.jsonl:1: field 'id' must end in sc<digit> or qa<digit>, got "x"`,
      "retain.jsonl:1: field 'input' must be a string, got number",
      "retain.jsonl:1: field 'output' is missing",
      "retain.jsonl:1: field 'task' is missing",
      "retain.jsonl:1: field 'split' is missing",
    ]);
  });

  it("fills a missing split only when asked, and keeps a present one", () => {
    const { split: _, ...noSplit } = good;
    const raw = parseJsonl(
      utf8.encode([JSON.stringify(noSplit), JSON.stringify({ ...good, split: "forget" })].join("\n")),
      "retain.jsonl",
    );
    expect(checkTaskRecords(raw, "retain.jsonl").issues.map(formatIssue)).toEqual([
      "retain.jsonl:1: field 'split' is missing",
    ]);
    const filled = checkTaskRecords(raw, "retain.jsonl", "retain");
    expect(filled.issues).toEqual([]);
    expect(filled.rows.map((r) => r.split)).toEqual(["retain", "forget"]);
  });
});

describe("MIA row schema", () => {
  it("keeps string ids, turns integer ids into digits, rejects the rest", () => {
    const lines = [
      { id: '"abc"', document: "x" },
      { id: 67148749, document: "y" },
      { id: 1.5, document: "z" },
      { id: "a" },
    ].map((r) => JSON.stringify(r));
    const checked = checkMiaRecords(
      parseJsonl(utf8.encode(lines.join("\n")), "member.jsonl"),
      "member.jsonl",
    );
    expect(checked.rows).toEqual([
      { id: '"abc"', document: "x" },
      { id: "67148749", document: "y" },
    ]);
    expect(checked.issues.map(formatIssue)).toEqual([
      "member.jsonl:3: field 'id' must be a string or an integer, got number",
      "member.jsonl:4: field 'document' is missing",
    ]);
  });
});

describe("DatasetError", () => {
  it("names the file, counts the bad rows and lists the first twenty", () => {
    const issues = Array.from({ length: 23 }, (_, i) => ({
      location: { file: "f.jsonl", line: i + 1 },
      field: "input",
      message: "is missing",
    }));
    const err = new DatasetError("f.jsonl", issues);
    expect(err).toBeInstanceOf(FormatError);
    const lines = err.message.split("\n");
    expect(lines[0]).toBe("f.jsonl: 23 bad rows");
    expect(lines[1]).toBe("f.jsonl:1: field 'input' is missing");
    expect(lines[20]).toBe("f.jsonl:20: field 'input' is missing");
    expect(lines[21]).toBe("… and 3 more");
    expect(lines).toHaveLength(22);
    expect(err.issues).toHaveLength(23);
  });
});
