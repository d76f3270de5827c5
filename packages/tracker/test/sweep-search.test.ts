// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
import { describe, expect, it } from "vitest";
import { expandCommand } from "../src/sweep/command.js";
import type { DistributionParameter } from "../src/sweep/config.js";
import { parseSweepConfigYaml } from "../src/sweep/config.js";
import { hyperbandBands, hyperbandStops } from "../src/sweep/hyperband.js";
import { flattenParameters, gridValues, position, ppf } from "../src/sweep/parameters.js";
import { createRng } from "../src/sweep/rng.js";
import { createBayesSearch } from "../src/sweep/search/bayes.js";
import { createGridSearch } from "../src/sweep/search/grid.js";
import { createRandomSearch } from "../src/sweep/search/random.js";
import type { SearchStrategy, TrialObservation } from "../src/sweep/search/strategy.js";
import { betaCdf, normalCdf, normalPpf } from "../src/sweep/special.js";

function spec(yaml: string): DistributionParameter {
  const config = parseSweepConfigYaml(`method: random\nprogram: t.js\nparameters:\n  p: ${yaml}\n`);
  return flattenParameters(config.parameters)[0]!.spec;
}

function samples(s: DistributionParameter, n: number, seed = 7): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => ppf(s, rng.next()) as number);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};

describe("special functions", () => {
  it("match tabulated values of the normal distribution", () => {
    // Standard normal table: Φ(1) = 0.8413447461, Φ(−2.5) = 0.0062096653, Φ⁻¹(0.975) = 1.9599639845.
    expect(normalCdf(1)).toBeCloseTo(0.8413447461, 9);
    expect(normalCdf(-2.5)).toBeCloseTo(0.0062096653, 9);
    expect(normalPpf(0.975)).toBeCloseTo(1.9599639845, 8);
    expect(normalPpf(1e-9)).toBeCloseTo(-5.997807015, 6);
  });

  it("give the Beta(2, 3) CDF, which is the polynomial 6x² − 8x³ + 3x⁴", () => {
    for (const x of [0.05, 0.3, 0.5, 0.77, 0.99]) {
      expect(betaCdf(x, 2, 3)).toBeCloseTo(6 * x ** 2 - 8 * x ** 3 + 3 * x ** 4, 10);
    }
  });
});

describe("parameter distributions (W&B semantics)", () => {
  it("log_uniform takes exponents of e; log_uniform_values takes the values", () => {
    expect(ppf(spec("{distribution: log_uniform, min: -4, max: 0}"), 0.5)).toBeCloseTo(Math.exp(-2), 12);
    expect(ppf(spec("{distribution: log_uniform_values, min: 0.001, max: 0.1}"), 0.5)).toBeCloseTo(0.01, 12);
    expect(ppf(spec("{distribution: inv_log_uniform_values, min: 0.001, max: 0.1}"), 0.5)).toBeCloseTo(
      0.01,
      12,
    );
    // ln(1/X) uniform on [1, 3]: X runs from e^-3 (u = 0) to e^-1 (u = 1).
    const inv = spec("{distribution: inv_log_uniform, min: 1, max: 3}");
    expect(ppf(inv, 0)).toBeCloseTo(Math.exp(-3), 12);
    expect(ppf(inv, 1)).toBeCloseTo(Math.exp(-1), 12);
  });

  it("samples normal, log-normal and beta with the right moments", () => {
    const normal = samples(spec("{distribution: normal, mu: 1, sigma: 2}"), 20000);
    expect(mean(normal)).toBeCloseTo(1, 1);
    expect(std(normal)).toBeCloseTo(2, 1);
    const logNormal = samples(spec("{distribution: log_normal, mu: 0.5, sigma: 0.3}"), 20000).sort(
      (a, b) => a - b,
    );
    expect(logNormal[10000]!).toBeCloseTo(Math.exp(0.5), 1); // median e^mu
    const beta = samples(spec("{distribution: beta, a: 2, b: 6}"), 20000);
    expect(mean(beta)).toBeCloseTo(2 / 8, 2);
  });

  it("draws categorical values with the given probabilities and integers uniformly", () => {
    const cat = spec("{values: [a, b, c], probabilities: [0.2, 0.5, 0.3]}");
    const rng = createRng(3);
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 20000; i++) counts[ppf(cat, rng.next()) as string]! += 1;
    expect(counts.a! / 20000).toBeCloseTo(0.2, 1);
    expect(counts.b! / 20000).toBeCloseTo(0.5, 1);
    const ints = samples(spec("{min: 2, max: 4}"), 9000);
    expect(new Set(ints)).toEqual(new Set([2, 3, 4]));
    for (const v of [2, 3, 4]) expect(ints.filter((x) => x === v).length / 9000).toBeCloseTo(1 / 3, 1);
  });

  it("quantises to multiples of q, rounding halves to even like numpy", () => {
    const q = spec("{distribution: q_uniform, min: 0, max: 10, q: 5}");
    expect(ppf(q, 0.25)).toBe(0); // 2.5 → 0 (numpy round(0.5) = 0)
    expect(ppf(q, 0.75)).toBe(10); // 7.5 → 10 (round(1.5) = 2)
    const fine = spec("{distribution: q_uniform, min: 0, max: 1, q: 0.1}");
    expect(ppf(fine, 0.3)).toBe(0.3); // not 0.30000000000000004
  });

  it("maps values back to positions that the quantile function inverts", () => {
    const continuous = [
      "{distribution: uniform, min: -1, max: 3}",
      "{distribution: log_uniform_values, min: 1e-5, max: 1e-1}",
      "{distribution: normal, mu: 2, sigma: 0.5}",
      "{distribution: beta, a: 2, b: 3}",
    ];
    for (const text of continuous) {
      const s = spec(text);
      for (const u of [0.1, 0.5, 0.83]) expect(position(s, ppf(s, u))).toBeCloseTo(u, 8);
    }
    const discrete = spec("{values: [x, [1, 2], {k: 3}]}");
    for (const v of ["x", [1, 2], { k: 3 }]) expect(ppf(discrete, position(discrete, v))).toEqual(v);
  });
});

describe("grid search", () => {
  it("walks the cartesian product in W&B's order and then stops", () => {
    const config = parseSweepConfigYaml(
      "method: grid\nprogram: t.js\nparameters:\n  b: {min: 1, max: 3}\n  a: {values: [x, y]}\n  c: {value: 9}\n",
    );
    const grid = createGridSearch(flattenParameters(config.parameters));
    expect(grid.size).toBe(6);
    const trials: Record<string, unknown>[] = [];
    for (let p = grid.next([]); p !== null; p = grid.next([])) trials.push(p);
    expect(trials).toEqual([
      { a: "x", b: 1, c: 9 },
      { a: "x", b: 2, c: 9 },
      { a: "x", b: 3, c: 9 },
      { a: "y", b: 1, c: 9 },
      { a: "y", b: 2, c: 9 },
      { a: "y", b: 3, c: 9 },
    ]);
  });

  it("enumerates q_uniform as numpy.arange(min, max, q), which leaves max out", () => {
    const [param] = flattenParameters(
      parseSweepConfigYaml(
        "method: grid\nprogram: t.js\nparameters:\n  d: {distribution: q_uniform, min: 0.2, max: 1.0, q: 0.2}\n",
      ).parameters,
    );
    expect(gridValues(param!)).toEqual([0.2, 0.4, 0.6, 0.8]);
  });

  it("refuses a continuous distribution", () => {
    const params = flattenParameters(
      parseSweepConfigYaml(
        "method: random\nprogram: t.js\nparameters:\n  lr: {distribution: log_uniform_values, min: 1e-5, max: 1e-2}\n",
      ).parameters,
    );
    expect(() => createGridSearch(params)).toThrow(
      "parameters.lr: grid search cannot enumerate a log_uniform_values distribution; grid search needs categorical, constant, int_uniform or q_uniform parameters",
    );
  });
});

describe("random search", () => {
  it("is reproducible from its seed", () => {
    const params = flattenParameters(
      parseSweepConfigYaml(
        "method: random\nprogram: t.js\nparameters:\n  x: {min: 0.0, max: 1.0}\n  n: {values: [1, 2, 3]}\n",
      ).parameters,
    );
    const draw = (seed: number) => {
      const s = createRandomSearch(params, createRng(seed));
      return [s.next([]), s.next([]), s.next([])];
    };
    expect(draw(11)).toEqual(draw(11));
    expect(draw(11)).not.toEqual(draw(12));
  });
});

/** Runs `trials` sequential trials of a search against an objective (minimised) and returns the best value. */
function optimise(
  strategy: SearchStrategy,
  objective: (p: Record<string, unknown>) => number,
  trials: number,
): number {
  const done: TrialObservation[] = [];
  for (let i = 0; i < trials; i++) {
    const params = strategy.next(done)!;
    done.push({ params, state: "finished", history: [objective(params)] });
  }
  return Math.min(...done.map((t) => t.history[0]!));
}

describe("bayesian search", () => {
  const metric = { name: "loss", goal: "minimize", impute: "worst", impute_while_running: "false" } as const;

  it("beats random search on a 2-D bowl within 20 trials", () => {
    const params = flattenParameters(
      parseSweepConfigYaml(
        "method: bayes\nprogram: t.js\nmetric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n  y: {min: -2.0, max: 2.0}\n",
      ).parameters,
    );
    const bowl = (p: Record<string, unknown>) =>
      ((p.x as number) - 0.37) ** 2 + (((p.y as number) - 0.9) / 4) ** 2;
    const seeds = [1, 2, 3, 4, 5];
    const bayes = seeds.map((s) => optimise(createBayesSearch(params, metric, createRng(s)), bowl, 20));
    const random = seeds.map((s) => optimise(createRandomSearch(params, createRng(s)), bowl, 20));
    const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[2]!;
    expect(bayes.filter((b, i) => b < random[i]!).length).toBeGreaterThanOrEqual(4);
    expect(median(bayes)).toBeLessThan(median(random) / 5);
  });

  it("beats random search on a 1-D log-scale learning rate, maximising", () => {
    const params = flattenParameters(
      parseSweepConfigYaml(
        "method: bayes\nprogram: t.js\nmetric: {name: acc, goal: maximize}\nparameters:\n  lr: {distribution: log_uniform_values, min: 1e-6, max: 1e-1}\n",
      ).parameters,
    );
    const max = { ...metric, name: "acc", goal: "maximize" } as const;
    // Accuracy peaks at lr = 3e-4; the search maximises, `optimise` minimises the negated value.
    const acc = (p: Record<string, unknown>) => 1 - (Math.log10(p.lr as number) - Math.log10(3e-4)) ** 2 / 25;
    const seeds = [1, 2, 3, 4, 5];
    const run = (make: (seed: number) => SearchStrategy) =>
      seeds.map((s) => {
        const strategy = make(s);
        const done: TrialObservation[] = [];
        for (let i = 0; i < 10; i++) {
          const p = strategy.next(done)!;
          done.push({ params: p, state: "finished", history: [acc(p)] });
        }
        return 1 - Math.max(...done.map((t) => t.history[0]!));
      });
    const bayes = run((s) => createBayesSearch(params, max, createRng(s)));
    const random = run((s) => createRandomSearch(params, createRng(s)));
    expect(mean(bayes)).toBeLessThan(mean(random) / 3);
  });

  it("spreads parallel trials: a running trial's point is not proposed again", () => {
    const params = flattenParameters(
      parseSweepConfigYaml(
        "method: bayes\nprogram: t.js\nmetric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n",
      ).parameters,
    );
    const strategy = createBayesSearch(params, metric, createRng(5));
    const done: TrialObservation[] = [0.1, 0.5, 0.9].map((x) => ({
      params: { x },
      state: "finished",
      history: [(x - 0.3) ** 2],
    }));
    const first = strategy.next(done)!;
    const second = strategy.next([...done, { params: first, state: "running", history: [] }])!;
    expect(Math.abs((second.x as number) - (first.x as number))).toBeGreaterThan(0.01);
  });
});

describe("hyperband (W&B variant)", () => {
  const loss = { name: "loss", goal: "minimize", impute: "worst", impute_while_running: "false" } as const;

  it("computes bands from max_iter and s, or from min_iter", () => {
    // max_iter 27, eta 3, s 2: 27/3 = 9, 9/3 = 3 → [3, 9].
    expect(hyperbandBands({ type: "hyperband", max_iter: 27, s: 2, eta: 3, strict: true })).toEqual([3, 9]);
    // min_iter 2, eta 2: 2, 4, 8, ...
    expect(hyperbandBands({ type: "hyperband", min_iter: 2, eta: 2, strict: true }).slice(0, 4)).toEqual([
      2, 4, 8, 16,
    ]);
  });

  it("stops the running trials below the top 1/eta at their last band (W&B's docstring example)", () => {
    // max_iter 5, eta 2, s 2 → bands [1, 2]. Band 1 values: all 10 → threshold 10. Band 2 values
    // 9, 10, 8, 7, 6 → sorted, index ⌊5/2⌋ = 2 → threshold 8. Running b has 10 > 8 at band 2 → stop;
    // c has 8, not worse than 8 → keep; d has 7 → keep. a and e are finished.
    const trials = [
      { id: "a", running: false, history: [10, 9] },
      { id: "b", running: true, history: [10, 10] },
      { id: "c", running: true, history: [10, 8, 8] },
      { id: "d", running: true, history: [10, 7, 7] },
      { id: "e", running: false, history: [10, 6, 6] },
    ];
    const stops = hyperbandStops(
      trials,
      { type: "hyperband", max_iter: 5, s: 2, eta: 2, strict: true },
      loss,
    );
    expect(stops).toEqual([{ id: "b", band: 2, value: 10, threshold: 8 }]);
  });

  it("compares the best value so far when not strict, and flips signs for maximize", () => {
    const trials = [
      { id: "a", running: false, history: [5, 1, 1] },
      { id: "b", running: false, history: [5, 2, 2] },
      { id: "c", running: true, history: [1, 9] }, // at band 2 it has 9 (bad) but its best is 1
    ];
    const et = { type: "hyperband", min_iter: 2, eta: 3, strict: false } as const;
    // Band 2 values 1, 2, 9 → threshold index ⌊3/3⌋ = 1 → 2. Not strict: min(1, 9) = 1 ≤ 2 → keep.
    expect(hyperbandStops(trials, et, loss)).toEqual([]);
    expect(hyperbandStops(trials, { ...et, strict: true }, loss)).toEqual([
      { id: "c", band: 2, value: 9, threshold: 2 },
    ]);
    // Maximising accuracy: band 2 values 0.9, 0.8, 0.1 → best first 0.9, 0.8, 0.1 → threshold 0.8.
    const acc = [
      { id: "a", running: false, history: [0.5, 0.9] },
      { id: "b", running: true, history: [0.5, 0.8] },
      { id: "c", running: true, history: [0.5, 0.1] },
    ];
    expect(hyperbandStops(acc, { ...et, strict: true }, { ...loss, goal: "maximize" })).toEqual([
      { id: "c", band: 2, value: 0.1, threshold: 0.8 },
    ]);
  });
});

describe("command macros", () => {
  const params = { lr: 0.1, opt: "adam", dims: [1, 2], aug: true, ema: false, "m.1.density": 0.6 };
  const ctx = {
    program: "train.js",
    params,
    argsJsonFile: "/tmp/a.json",
    nodeExecutable: "/usr/bin/node",
    env: { HOME_DIR: "/h" },
  };

  it("expands W&B's default command and every args macro", () => {
    expect(expandCommand(["${env}", "${interpreter}", "${program}", "${args}"], ctx)).toEqual([
      "/usr/bin/env",
      "/usr/bin/node",
      "train.js",
      "--lr=0.1",
      "--opt=adam",
      "--dims=[1,2]",
      "--aug=true",
      "--ema=false",
      "--m.1.density=0.6",
    ]);
    expect(expandCommand(["x", "${args_no_hyphens}"], ctx)).toEqual([
      "x",
      "lr=0.1",
      "opt=adam",
      "dims=[1,2]",
      "aug=true",
      "ema=false",
      "m.1.density=0.6",
    ]);
    expect(expandCommand(["${args_no_boolean_flags}"], ctx)).toEqual([
      "--lr=0.1",
      "--opt=adam",
      "--dims=[1,2]",
      "--aug",
      "--m.1.density=0.6",
    ]);
    expect(expandCommand(["${args_no_equals}"], { ...ctx, params: { lr: 0.1, opt: "adam" } })).toEqual([
      "--lr",
      "0.1",
      "--opt",
      "adam",
    ]);
    expect(JSON.parse(expandCommand(["${args_json}"], ctx)[0]!)).toEqual(params);
    expect(expandCommand(["--params", "${args_json_file}"], ctx)).toEqual(["--params", "/tmp/a.json"]);
    expect(expandCommand(["${interpreter}"], { ...ctx, program: "train.py" })).toEqual(["python"]);
  });

  it("substitutes ${envvar:NAME} anywhere and leaves macros inside longer items alone", () => {
    expect(
      expandCommand(["--home=${envvar:HOME_DIR}/x", "--cfg=${args_json_file}", "${envvar:UNSET_X}"], ctx),
    ).toEqual(["--home=/h/x", "--cfg=${args_json_file}", "UNSET_X"]);
  });
});
