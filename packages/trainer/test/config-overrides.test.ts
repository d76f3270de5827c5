/** `--dotted.path=value` overrides: YAML typing, order, unknown paths with the right suggestion. */
import { describe, expect, it } from "vitest";
import { editDistance } from "../src/config/edit-distance.js";
import { type Override, parseOverride, splitOverrides } from "../src/config/overrides.js";
import { resolveTrainConfig } from "../src/config/resolve.js";

const BASE = { model: "base", out: "runs/x", data: { forget: "f.jsonl" } };

function flags(...args: string[]): Override[] {
  return args.map((arg) => {
    const override = parseOverride(arg);
    if (override === null) throw new Error(`not an override: ${arg}`);
    return override;
  });
}

function withFlags(...args: string[]) {
  return resolveTrainConfig(BASE, { source: "train.yml", overrides: flags(...args) });
}

function overrideError(...args: string[]): string {
  try {
    withFlags(...args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`no error for ${args.join(" ")}`);
}

describe("parseOverride", () => {
  it("splits the path from the value at the first =", () => {
    expect(parseOverride("--loss.npo.beta=0.2")).toEqual({ path: "loss.npo.beta", text: "0.2" });
    expect(parseOverride("--params.select=a=b")).toEqual({ path: "params.select", text: "a=b" });
    expect(parseOverride("--model=")).toEqual({ path: "model", text: "" });
  });

  it("leaves other arguments alone", () => {
    expect(parseOverride("train.yml")).toBeNull();
    expect(parseOverride("--resume")).toBeNull();
    expect(parseOverride("-x=1")).toBeNull();
  });
});

describe("splitOverrides", () => {
  it("keeps positionals and other flags apart, in order", () => {
    const { overrides, rest } = splitOverrides([
      "train.yml",
      "--optim.lr=1e-5",
      "--resume",
      "ckpt",
      "--seed=3",
    ]);
    expect(rest).toEqual(["train.yml", "--resume", "ckpt"]);
    expect(overrides).toEqual([
      { path: "optim.lr", text: "1e-5" },
      { path: "seed", text: "3" },
    ]);
  });

  it("--preset=NAME acts as --preset NAME: the preset's values apply, under the file", () => {
    const c = resolveTrainConfig({ ...BASE, grad_accum: 2 }, { overrides: flags("--preset=zju-under") });
    expect(c.preset).toBe("zju-under");
    expect(c.loss.retain_nll).toBe(0.4);
    expect(c.batch_size).toBe(2);
    expect(c.grad_accum).toBe(2);
  });
});

describe("values are typed as YAML scalars", () => {
  it("numbers stay numbers, in every notation", () => {
    const c = withFlags("--loss.npo.beta=0.2", "--optim.lr=1e-5", "--batch_size=2", "--optim.eps=1.0e-6");
    expect(c.loss.npo.beta).toBe(0.2);
    expect(c.optim.lr).toBe(1e-5);
    expect(c.batch_size).toBe(2);
    expect(c.optim.eps).toBe(1e-6);
  });

  it("lists, mappings, booleans, null and words", () => {
    const c = withFlags(
      "--optim.betas=[0.9,0.95]",
      "--data.task_max_len={Task1: 256, Task3: 335}",
      "--data.shuffle=false",
      "--optim.grad_clip=null",
      "--optim.warmup_steps=auto",
      "--params.lora.target_modules=[q_proj, v_proj]",
    );
    expect(c.optim.betas).toEqual([0.9, 0.95]);
    expect(c.data.task_max_len).toEqual({ Task1: 256, Task3: 335 });
    expect(c.data.shuffle).toBe(false);
    expect(c.optim.grad_clip).toBeNull();
    expect(c.optim.warmup_steps).toBe("auto");
    expect(c.params.lora.target_modules).toEqual(["q_proj", "v_proj"]);
  });

  it("a quoted number stays a string, and then fails validation against the flag", () => {
    expect(overrideError("--optim.lr='1e-4'")).toBe(
      `--optim.lr='1e-4': optim.lr: must be a number, got "1e-4"`,
    );
  });

  it("reaches into a list element and a single map entry", () => {
    const c = withFlags("--optim.betas.1=0.95", "--data.task_max_len.Task2=105");
    expect(c.optim.betas).toEqual([0.9, 0.95]);
    expect(c.data.task_max_len).toEqual({ Task2: 105 });
  });

  it("applies in order, over the file and the preset", () => {
    const c = resolveTrainConfig(
      { ...BASE, loss: { retain_kl: 0.1 } },
      { preset: "zju-over", overrides: flags("--loss.retain_kl=0.5", "--loss.retain_kl=0.7") },
    );
    expect(c.loss.retain_kl).toBe(0.7);
    expect(c.loss.retain_nll).toBe(0.2);
  });

  it("a bad value is reported against the flag that set it", () => {
    expect(overrideError("--loss.forget=npx")).toBe(
      '--loss.forget=npx: loss.forget: must be one of npo, ga, simnpo, rmu, adaptive_rmu, sft, none, got "npx"',
    );
    expect(overrideError("--optim={lr: -1}")).toBe("--optim={lr: -1}: optim.lr: must be > 0, got -1");
  });

  it("a value that is not YAML is refused", () => {
    expect(overrideError("--optim.betas=[0.9,")).toMatch(/^--optim\.betas=\[0\.9,: not a valid YAML value/);
  });
});

describe("unknown paths", () => {
  const cases: [string, string][] = [
    [
      "--loss.npo.bta=0.2",
      '--loss.npo.bta: unknown config field "loss.npo.bta"; did you mean --loss.npo.beta?',
    ],
    ["--loss.retain_kll=0.2", "did you mean --loss.retain_kl?"],
    ["--data.max_length=128", "did you mean --data.max_len?"],
    ["--optim.weightdecay=0", "did you mean --optim.weight_decay?"],
    ["--data.suffle=false", "did you mean --data.shuffle?"],
    ["--loss.simnpo.detla=1", "did you mean --loss.simnpo.delta?"],
    ["--lr=1e-4", "did you mean --optim.lr?"],
    ["--npo.beta=0.2", "did you mean --loss.npo.beta?"],
    ["--grad_acum=8", "did you mean --grad_accum?"],
  ];
  it.each(cases)("%s", (arg, message) => {
    expect(overrideError(arg)).toContain(message);
  });

  it("nothing plausible, no suggestion", () => {
    const message = overrideError("--wandb.project=x");
    expect(message).toBe('--wandb.project: unknown config field "wandb.project"');
  });

  it("a path through a value, or a task that does not exist", () => {
    expect(overrideError("--optim.lr.max=1")).toBe(
      "--optim.lr.max: optim.lr is a value, not a section (set --optim.lr=…)",
    );
    expect(overrideError("--data.task_max_len.Task4=1")).toContain(
      'unknown config field "data.task_max_len.Task4"',
    );
    expect(overrideError("--optim.betas.2=0.9")).toContain('unknown config field "optim.betas.2"');
  });
});

describe("editDistance", () => {
  /** Plain recursion over the definition (insert, delete, substitute, swap neighbours): slow but obviously right. */
  function reference(a: string, b: string): number {
    if (a === "") return b.length;
    if (b === "") return a.length;
    let best = Math.min(
      reference(a.slice(1), b) + 1,
      reference(a, b.slice(1)) + 1,
      reference(a.slice(1), b.slice(1)) + (a[0] === b[0] ? 0 : 1),
    );
    if (a.length > 1 && b.length > 1 && a[0] === b[1] && a[1] === b[0]) {
      best = Math.min(best, reference(a.slice(2), b.slice(2)) + 1);
    }
    return best;
  }

  it("matches the definition on small words", () => {
    const words = ["", "a", "ab", "ba", "beta", "btea", "bet", "abc", "ca", "shuffle", "shufle", "lr"];
    for (const a of words)
      for (const b of words) expect(editDistance(a, b), `${a} → ${b}`).toBe(reference(a, b));
  });

  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("btea", "beta")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
});
