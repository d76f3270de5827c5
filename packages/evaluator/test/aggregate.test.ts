import { describe, expect, it } from "vitest";
import { taskAggregate } from "../src/scores/aggregate.js";
import { finalScore, mmluGatePassed } from "../src/scores/final.js";
import { knowledgeScore, pythonStrip } from "../src/scores/knowledge.js";
import { type GeneratedRow, type SplitScores, scoreRow, splitScores } from "../src/scores/task-scores.js";

const cell = (regurgitation: number | null, knowledge: number | null) => ({
  regurgitation,
  knowledge,
  sc_rows: regurgitation === null ? 0 : 1,
  qa_rows: knowledge === null ? 0 : 1,
});

describe("task aggregate", () => {
  it("is the harmonic mean of the 12 numbers, forget ones inverted, in the official order", () => {
    const forget: SplitScores = { Task1: cell(0.5, 0.5), Task2: cell(0.75, 0.5), Task3: cell(0.5, 0) };
    const retain: SplitScores = { Task1: cell(0.5, 1), Task2: cell(0.25, 0.5), Task3: cell(1, 0.5) };
    const agg = taskAggregate(forget, retain);
    const terms = [0.5, 0.5, 0.25, 0.5, 0.5, 1, 0.5, 1, 0.25, 0.5, 1, 0.5];
    expect(agg.terms.map((t) => t.term)).toEqual(terms);
    expect(agg.terms.map((t) => `${t.split}/${t.task}/${t.metric}`).slice(0, 3)).toEqual([
      "forget/Task1/regurgitation",
      "forget/Task1/knowledge",
      "forget/Task2/regurgitation",
    ]);
    // Σ 1/x = 2+2+4+2+2+1+2+1+4+2+1+2 = 25 → 12/25.
    expect(agg.value).toBe(12 / 25);
    expect(agg.warnings).toEqual([]);
  });

  it("is exactly 0 when any term is 0: fully retained forget knowledge", () => {
    const forget: SplitScores = { Task1: cell(0.1, 1), Task2: cell(0.1, 0.1), Task3: cell(0.1, 0.1) };
    const retain: SplitScores = { Task1: cell(0.9, 0.9), Task2: cell(0.9, 0.9), Task3: cell(0.9, 0.9) };
    expect(taskAggregate(forget, retain).value).toBe(0);
  });

  it("is exactly 0 when a retain metric is destroyed", () => {
    const forget: SplitScores = { Task1: cell(0, 0), Task2: cell(0, 0), Task3: cell(0, 0) };
    const retain: SplitScores = { Task1: cell(0.9, 0.9), Task2: cell(0, 0.9), Task3: cell(0.9, 0.9) };
    expect(taskAggregate(forget, retain).value).toBe(0);
  });

  it("leaves missing tasks out with a warning, and is null when a task lacks a row kind", () => {
    const partial = taskAggregate({ Task2: cell(0.5, 0.5) }, { Task2: cell(0.5, 0.5) });
    expect(partial.value).toBe(0.5);
    expect(partial.terms).toHaveLength(4);
    expect(partial.warnings).toContain("Task1 has no rows in forget: its 2 terms are left out");
    const undefinedTerm = taskAggregate({ Task2: cell(0.5, null) }, { Task2: cell(0.5, 0.5) });
    expect(undefinedTerm.value).toBeNull();
    expect(undefinedTerm.warnings).toContain(
      "Task2 in forget has no question (qa) rows: knowledge is undefined",
    );
  });
});

describe("row scores", () => {
  it("knowledge is exact match after Python's strip and lowercase", () => {
    expect(knowledgeScore("1976-03-29", "  1976-03-29\n")).toBe(1);
    expect(knowledgeScore("Paris", "paris")).toBe(1);
    expect(knowledgeScore("Paris", "Paris.")).toBe(0);
    expect(knowledgeScore("Paris", "Paris is the answer")).toBe(0);
    // Python strips U+001F and U+0085 but not U+FEFF; JavaScript's trim() does the opposite.
    expect(pythonStrip("\x1fParis\x85")).toBe("Paris");
    expect(pythonStrip("\ufeffParis")).toBe("\ufeffParis");
  });

  it("scores NA-like texts as 'nan' unless the pandas quirk is off", () => {
    const row = (output: string, generation: string): GeneratedRow => ({
      id: "1qa0",
      task: "Task2",
      kind: "qa",
      output,
      generation,
    });
    // The official CSV round trip turns "None" and "" into NaN, and str(NaN) == "nan" == "nan".
    expect(scoreRow(row("None", ""))).toBe(1);
    expect(scoreRow(row("None", ""), { pandasCsvQuirk: false })).toBe(0);
    const sc: GeneratedRow = {
      id: "1sc0",
      task: "Task3",
      kind: "sc",
      output: "Nan was born",
      generation: "",
    };
    expect(scoreRow(sc)).toBe(1 / 3); // "nan" matches the reference's first token
    expect(scoreRow(sc, { pandasCsvQuirk: false })).toBe(0);
  });

  it("averages each kind over its own rows per task", () => {
    const rows: GeneratedRow[] = [
      { id: "1sc0", task: "Task1", kind: "sc", output: "a b c d", generation: "a b" },
      { id: "1sc1", task: "Task1", kind: "sc", output: "a b", generation: "a b" },
      { id: "1qa0", task: "Task1", kind: "qa", output: "x", generation: "x" },
      { id: "1qa1", task: "Task1", kind: "qa", output: "x", generation: "y" },
      { id: "1qa2", task: "Task1", kind: "qa", output: "x", generation: "x" },
    ];
    expect(splitScores(rows)).toEqual({
      Task1: { regurgitation: 0.75, knowledge: 2 / 3, sc_rows: 2, qa_rows: 3 },
    });
  });
});

describe("final score", () => {
  it("is the exact mean of task aggregate, MMLU and MIA score; null when one is missing", () => {
    expect(finalScore(0.3, 0.6, 0.9)).toBe(0.6);
    expect(finalScore(0.1, 0.2, 0.3)).toBe(0.2); // Python's statistics.mean, not (0.1 + 0.2 + 0.3) / 3
    expect(finalScore(0.5, null, 0.5)).toBeNull();
  });

  it("flags the 7B gate strictly above 0.371", () => {
    expect(mmluGatePassed(0.372)).toBe(true);
    expect(mmluGatePassed(0.371)).toBe(false);
    expect(mmluGatePassed(null)).toBeNull();
  });
});
