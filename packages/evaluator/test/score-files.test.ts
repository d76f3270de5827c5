import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scoreFiles } from "../src/score-files.js";

const dir = mkdtempSync(path.join(tmpdir(), "lethe-eval-score-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function jsonl(name: string, rows: object[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return file;
}

const row = (id: string, task: string, output: string, generation: string, split: string) => ({
  id,
  input: "prompt",
  output,
  task,
  split,
  generation,
});

// A small example worked by hand.
// forget: Task1 sc "the cat sat on the mat" vs "the cat on a mat": LCS 4 of 6 → 2/3; qa Paris vs London → 0
//         Task2 sc "born on 1976-03-29" (5 tokens) vs "born 1976" → 2/5; qa 0 and 1 → 1/2
//         Task3 sc "a b c d" vs "" → 0; qa x vs y → 0
// retain: Task1 1, 1; Task2 "a b c d" vs "a b" → 1/2, qa 1; Task3 "a b c d" vs "d" → 1/4, qa 1
// terms (forget inverted): 1/3, 1, 3/5, 1/2, 1, 1 | 1, 1, 1/2, 1, 1/4, 1
// Σ 1/term = 3 + 1 + 5/3 + 2 + 1 + 1 + 1 + 1 + 2 + 1 + 4 + 1 = 59/3 → task aggregate 12 / (59/3) = 36/59.
// MIA: member NLL 1, 2, 2; non-member 2, 3 → AUC 5/6 (ties count half) → MIA score 1 − 2·(5/6 − 1/2) = 1/3.
// final = (36/59 + 1/2 + 1/3) / 3 with MMLU 0.5.
const forget = jsonl("forget.jsonl", [
  row('"doc-a"sc1', "Task1", "the cat sat on the mat", "The cat on a mat.", "forget"),
  row('"doc-a"qa0', "Task1", "Paris", "London", "forget"),
  row("doc-bsc1", "Task2", "born on 1976-03-29", "born 1976", "forget"),
  row("doc-bqa0", "Task2", "1976-03-29", "unknown", "forget"),
  row("doc-bqa1", "Task2", "555-0100", " 555-0100 ", "forget"),
  row("11sc1", "Task3", "a b c d", "", "forget"),
  row("11qa0", "Task3", "x", "y", "forget"),
]);
const retain = jsonl("retain.jsonl", [
  row('"doc-c"sc1', "Task1", "a b c d", "a b c d", "retain"),
  row('"doc-c"qa0', "Task1", "x", "X ", "retain"),
  row("doc-dsc1", "Task2", "a b c d", "a b", "retain"),
  row("doc-dqa0", "Task2", "y", "y", "retain"),
  row("12sc1", "Task3", "a b c d", "d", "retain"),
  row("12qa0", "Task3", "z", "z", "retain"),
]);
const members = jsonl("member_nll.jsonl", [
  { id: "m1", nll: 1 },
  { id: "m2", nll: 2 },
  { id: 3, nll: 2 },
]);
const nonmembers = jsonl("nonmember_nll.jsonl", [
  { id: "n1", nll: 2 },
  { id: "n2", nll: 3 },
]);

describe("scoreFiles", () => {
  it("reproduces the hand-computed full score", async () => {
    const report = await scoreFiles({
      forget,
      retain,
      miaMember: members,
      miaNonmember: nonmembers,
      mmluAccuracy: 0.5,
    });
    expect(report.forget).toEqual({
      Task1: { regurgitation: 4 / 6, knowledge: 0, sc_rows: 1, qa_rows: 1 },
      Task2: { regurgitation: 2 / 5, knowledge: 0.5, sc_rows: 1, qa_rows: 2 },
      Task3: { regurgitation: 0, knowledge: 0, sc_rows: 1, qa_rows: 1 },
    });
    expect(report.retain).toEqual({
      Task1: { regurgitation: 1, knowledge: 1, sc_rows: 1, qa_rows: 1 },
      Task2: { regurgitation: 0.5, knowledge: 1, sc_rows: 1, qa_rows: 1 },
      Task3: { regurgitation: 0.25, knowledge: 1, sc_rows: 1, qa_rows: 1 },
    });
    expect(report.task_aggregate_terms).toHaveLength(12);
    expect(report.task_aggregate).toBeCloseTo(36 / 59, 14);
    expect(report.mia_auc).toBeCloseTo(5 / 6, 15);
    expect(report.mia_score).toBeCloseTo(1 / 3, 15);
    expect(report.mmlu).toBe(0.5);
    expect(report.final).toBeCloseTo((36 / 59 + 1 / 2 + 1 / 3) / 3, 14);
    expect(report.mmlu_gate_passed).toBe(true);
    expect(report.mia_members).toBe(3);
    expect(report.warnings).toEqual([]);
  });

  it("leaves MIA, MMLU and final null when they are not given", async () => {
    const report = await scoreFiles({ forget, retain });
    expect(report.task_aggregate).toBeCloseTo(36 / 59, 14);
    expect([report.mia_auc, report.mia_score, report.mmlu, report.final, report.mmlu_gate_passed]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    expect(report.warnings).toEqual([
      "no MIA data: mia_auc, mia_score and final are null",
      "no MMLU accuracy: mmlu, mmlu_gate_passed and final are null",
    ]);
  });

  it("names the file and line of malformed ids, missing fields and unknown tasks", async () => {
    const bad = jsonl("bad.jsonl", [
      row("doc-bsc1", "Task2", "ok", "ok", "forget"),
      row("doc-b-1", "Task2", "x", "y", "forget"),
      { id: "doc-bqa0", input: "q", output: "a", task: "Task2", split: "forget" },
      row("doc-bqa1", "Task4", "x", "y", "forget"),
      row("doc-bqa2", "Task2", "x", "y", "retain"),
    ]);
    await expect(scoreFiles({ forget: bad, retain })).rejects.toThrow(
      [
        `${bad}: 4 bad rows`,
        `${bad}:2: field 'id' must end in sc<digit> or qa<digit>, got "doc-b-1"`,
        `${bad}:3: field 'generation' is missing`,
        `${bad}:4: field 'task' must be one of Task1, Task2, Task3, got "Task4"`,
        `${bad}:5: field 'split' is "retain" but the file was given as the forget split`,
      ].join("\n"),
    );
  });

  it("rejects bad NLL rows and half-given MIA inputs", async () => {
    const badNll = jsonl("bad_nll.jsonl", [{ id: "m1", nll: "low" }, { nll: 1 }]);
    await expect(scoreFiles({ forget, retain, miaMember: badNll, miaNonmember: nonmembers })).rejects.toThrow(
      [
        `${badNll}: 2 bad rows`,
        `${badNll}:1: field 'nll' must be a finite number, got string`,
        `${badNll}:2: field 'id' is missing`,
      ].join("\n"),
    );
    await expect(scoreFiles({ forget, retain, miaMember: members })).rejects.toThrow(
      "MIA needs both a member and a non-member NLL file",
    );
    await expect(scoreFiles({ forget, retain, mmluAccuracy: 1.5 })).rejects.toThrow(
      "MMLU accuracy must be a number in [0, 1], got 1.5",
    );
  });
});
