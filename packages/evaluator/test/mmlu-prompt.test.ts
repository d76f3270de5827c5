import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { asPromptItems } from "../src/mmlu/evaluate.js";
import { loadMultipleChoice } from "../src/mmlu/load.js";
import { pandasColumnText, pythonFloatRepr } from "../src/mmlu/pandas-columns.js";
import { formatExample, formatSubject, mmluPrompt } from "../src/mmlu/prompt.js";
import { tempDir } from "./helpers/fixtures.js";

const dev = [
  { question: "1 + 1 = ?", choices: ["1", "2", "3", "4"], answer: "B" },
  { question: "2 + 2 = ?", choices: ["4", "5", "6", "7"], answer: "A" },
];
const test = { question: "3 + 3 = ?", choices: ["5", "6", "7", "8"], answer: "B" };

describe("open-instruct MMLU prompt", () => {
  it("formats the subject with a space before every word", () => {
    expect(formatSubject("abstract_algebra")).toBe(" abstract algebra");
  });

  it("lays out header, k answered dev examples and the unanswered test question", () => {
    const prompt = mmluPrompt(dev, test, "elementary_mathematics", 5, () => 0);
    expect(prompt).toBe(
      "The following are multiple choice questions (with answers) about  elementary mathematics.\n\n" +
        "1 + 1 = ?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: B\n\n" +
        "2 + 2 = ?\nA. 4\nB. 5\nC. 6\nD. 7\nAnswer: A\n\n" +
        "3 + 3 = ?\nA. 5\nB. 6\nC. 7\nD. 8\nAnswer:",
    );
    expect(formatExample(test, true).endsWith("Answer: B\n\n")).toBe(true);
  });

  it("drops dev examples from the end while the prompt is over the token limit", () => {
    const words = (text: string) => text.split(/\s+/).length;
    const full = mmluPrompt(dev, test, "x", 5, words);
    const oneShot = mmluPrompt(dev, test, "x", 5, words, words(full) - 1);
    expect(oneShot).toContain("1 + 1 = ?");
    expect(oneShot).not.toContain("2 + 2 = ?");
    const zeroShot = mmluPrompt(dev, test, "x", 5, words, 1);
    expect(zeroShot).toBe(
      "The following are multiple choice questions (with answers) about  x.\n\n3 + 3 = ?\nA. 5\nB. 6\nC. 7\nD. 8\nAnswer:",
    );
  });
});

describe("pandas column text (read_csv type inference, then str())", () => {
  it("writes Python float reprs", () => {
    expect(pythonFloatRepr(5)).toBe("5.0");
    expect(pythonFloatRepr(0.5)).toBe("0.5");
    expect(pythonFloatRepr(0.1)).toBe("0.1");
    expect(pythonFloatRepr(0.0001)).toBe("0.0001");
    expect(pythonFloatRepr(0.00001)).toBe("1e-05");
    expect(pythonFloatRepr(1e16)).toBe("1e+16");
    expect(pythonFloatRepr(123456789012345.6)).toBe("123456789012345.6");
    expect(pythonFloatRepr(-2.5e-7)).toBe("-2.5e-07");
  });

  it("an all-integer column prints as ints, a numeric column with decimals or gaps as floats", () => {
    expect(pandasColumnText(["007", "12", "-3"])).toEqual(["7", "12", "-3"]);
    expect(pandasColumnText(["0.50", "2", "1e3"])).toEqual(["0.5", "2.0", "1000.0"]);
    expect(pandasColumnText(["5", "", "7"])).toEqual(["5.0", "nan", "7.0"]);
  });

  it("keeps text columns, with pandas' NA spellings as 'nan' and all-boolean columns capitalised", () => {
    expect(pandasColumnText(["None", "x", "NA"])).toEqual(["nan", "x", "nan"]);
    expect(pandasColumnText(["true", "FALSE"])).toEqual(["True", "False"]);
    expect(pandasColumnText(["true", "maybe"])).toEqual(["true", "maybe"]);
  });

  it("applies the inference per column of one file", () => {
    const items = asPromptItems([
      { question: "Which?", choices: ["1.50", "None", "a", "2"], answer: "A" },
      { question: "Other?", choices: ["2", "b", "c", "3"], answer: "D" },
    ]);
    expect(items.map((i) => i.choices)).toEqual([
      ["1.5", "nan", "a", "2"],
      ["2.0", "b", "c", "3"],
    ]);
  });
});

describe("loadMultipleChoice", () => {
  const dir = tempDir("mmlu");

  it("reads one CSV file in the layout, with its dev file from ../dev when there is one", async () => {
    mkdirSync(path.join(dir, "test"));
    mkdirSync(path.join(dir, "dev"));
    const test = path.join(dir, "test", "world_history_test.csv");
    writeFileSync(test, 'Who?,"A, a",B,C,D,A\nWhen?,1,2,3,4,D\n');
    writeFileSync(path.join(dir, "dev", "world_history_dev.csv"), "Why?,w,x,y,z,B\n");
    const [subject] = await loadMultipleChoice(test);
    expect(subject!.subject).toBe("world_history");
    expect(subject!.test).toEqual([
      { question: "Who?", choices: ["A, a", "B", "C", "D"], answer: "A" },
      { question: "When?", choices: ["1", "2", "3", "4"], answer: "D" },
    ]);
    expect(subject!.dev).toEqual([{ question: "Why?", choices: ["w", "x", "y", "z"], answer: "B" }]);
  });

  it("refuses a subject without dev file for few-shot, naming the files, and reads it zero-shot with ntrain 0", async () => {
    const layout = path.join(dir, "layout");
    mkdirSync(path.join(layout, "test"), { recursive: true });
    mkdirSync(path.join(layout, "dev"));
    for (const s of ["anatomy", "virology", "law"])
      writeFileSync(path.join(layout, "test", `${s}_test.csv`), "Q,a,b,c,d,A\n");
    writeFileSync(path.join(layout, "dev", "law_dev.csv"), "Q,a,b,c,d,B\n");
    await expect(loadMultipleChoice(layout)).rejects.toThrow(
      `${layout}: missing dev/anatomy_dev.csv, dev/virology_dev.csv: --ntrain 5 takes few-shot examples from them; add them or pass --ntrain 0 for zero-shot`,
    );
    const zeroShot = await loadMultipleChoice(layout, { ntrain: 0 });
    expect(zeroShot.map((s) => [s.subject, s.dev.length])).toEqual([
      ["anatomy", 0],
      ["law", 1],
      ["virology", 0],
    ]);
    const lone = path.join(dir, "lone_test.csv");
    writeFileSync(lone, "Q,a,b,c,d,A\n");
    await expect(loadMultipleChoice(lone, { ntrain: 2 })).rejects.toThrow(
      `${lone}: no few-shot file ${path.join(dir, "lone_dev.csv")} or ${path.join(dir, "..", "dev", "lone_dev.csv")}: --ntrain 2 needs one; add it or pass --ntrain 0 for zero-shot`,
    );
    const empty = path.join(dir, "not-mmlu");
    mkdirSync(empty);
    await expect(loadMultipleChoice(empty)).rejects.toThrow(`${empty}: no test/<subject>_test.csv files`);
  });

  it("reports bad rows with file and line", async () => {
    const bad = path.join(dir, "bad_test.csv");
    writeFileSync(bad, "Q,a,b,c,d,A\nQ2,a,b,c,d,E\n");
    await expect(loadMultipleChoice(bad)).rejects.toThrow(
      `${bad}:2: field 'answer' must be one of A, B, C, D, got "E"`,
    );
  });
});
