// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
/**
 * The dashboard over generated runs: its JSON API, then the page in a real browser (Debian's Chromium
 * driven by playwright-core), asserting what is drawn. Screenshots go to test-artifacts/dashboard/.
 *
 * The runs are made with the real Run API and a real local sweep (trials that print JSON lines), so the
 * page is tested against what the tracker actually writes.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dashboard, startDashboard } from "../src/dashboard/server.js";
import { startRun } from "../src/run.js";
import { validateSweepConfig } from "../src/sweep/config.js";
import { runSweep } from "../src/sweep/controller.js";

const SCREENSHOTS = resolve(__dirname, "../../../test-artifacts/dashboard");
const LAYERS = 8;

interface Fixture {
  runsDir: string;
  /** train/loss per run name, by step. */
  losses: Map<string, number[]>;
  residual: Map<string, number[][]>;
  checkpoints: Record<string, string>;
  /** Per sweep trial: density, weight and the SemEval numbers it printed. */
  trials: { density: number; weight: number; forget: number; retain: number; final: number }[];
}

/** The numbers a sweep trial reports for (density, weight): forgetting rises with density, retention falls. */
function trialScores(density: number, weight: number) {
  const forgetValue = 0.9 - 0.8 * density * weight; // measured forget-set score (lower = more forgotten)
  const retainValue = 0.95 - 0.5 * density ** 2 - 0.1 * weight;
  return { forgetValue, retainValue, final: (1 - forgetValue + retainValue + 0.4) / 3 };
}

async function generate(root: string): Promise<Fixture> {
  const runsDir = join(root, "runs");
  const ckpts = join(root, "ckpt");
  const checkpoints = {
    base: join(ckpts, "base"),
    model1: join(ckpts, "model1"),
    model2: join(ckpts, "model2"),
    merged: join(ckpts, "merged"),
    rmu: join(ckpts, "rmu-l7"),
  };
  const common = { runsDir, tracker: "local", exitHandlers: false, env: {}, project: "lethe" } as const;
  const losses = new Map<string, number[]>();
  const residual = new Map<string, number[][]>();

  const train = [
    { name: "npo-over", steps: 30, scale: 1.0, ckpt: "model1", job: "train", exit: 0 },
    { name: "npo-under", steps: 20, scale: 0.7, ckpt: "model2", job: "train", exit: 0 },
    { name: "rmu-l7", steps: 25, scale: 0.4, ckpt: "rmu", job: "train-rmu", exit: 0 },
    { name: "npo-broken", steps: 5, scale: 2.0, ckpt: null, job: "train", exit: 1 },
  ] as const;
  for (const t of train) {
    const run = await startRun({
      ...common,
      name: t.name,
      group: "zju",
      job_type: t.job,
      config: { lr: 1e-4 * t.scale, method: t.name.split("-")[0] },
    });
    const curve: number[] = [];
    for (let step = 0; step < t.steps; step++) {
      const loss = t.scale * (2 + Math.exp(-step / 6)) + 0.05 * Math.sin(step);
      curve.push(loss);
      run.log({ "train/loss": loss, "train/forget_loss": -loss / 2 }, { step });
    }
    losses.set(t.name, curve);
    if (t.ckpt !== null) {
      // forget_cosine, retain_cosine, forget_norm_ratio per layer.
      const rows = Array.from({ length: LAYERS }, (_, l) => [
        l,
        1 - (t.scale * l) / 10,
        0.99 - l / 100,
        1 + t.scale * l,
      ]);
      residual.set(t.name, rows);
      run.table("layers_residual", ["layer", "forget_cosine", "retain_cosine", "forget_norm_ratio"], rows);
      run.artifact(
        t.ckpt,
        "checkpoint",
        checkpoints[t.ckpt],
        t.ckpt === "rmu" ? { parents: [checkpoints.base] } : {},
      );
    }
    run.summary({ "train/final_loss": curve.at(-1)! });
    await run.finish(t.exit);
  }

  // The merge run records the merged checkpoint; its parents come from the checkpoint's lethe.json.
  mkdirSync(checkpoints.merged, { recursive: true });
  writeFileSync(
    join(checkpoints.merged, "lethe.json"),
    JSON.stringify({
      format: "lethe.checkpoint",
      version: 1,
      id: "m",
      stage: "merge",
      parents: [`file://${checkpoints.model1}`, checkpoints.model2],
      parameters: {},
      metrics: {},
      files: [],
    }),
  );
  const merge = await startRun({
    ...common,
    name: "ties-merge",
    group: "zju",
    job_type: "merge",
    config: { density: 0.8 },
  });
  const modules = ["mlp.down_proj", "self_attn.o_proj"];
  merge.table(
    "weight_delta",
    ["layer", "module", "delta_norm"],
    Array.from({ length: LAYERS }, (_, l) => modules.map((m, k) => [l, m, 0.1 * l + k])).flat(),
  );
  merge.artifact("merged", "checkpoint", `file://${checkpoints.merged}/`);
  await merge.finish(0);

  // A TIES density × weight sweep whose trials print the evaluator's keys as JSON.
  const trialScript = join(root, "trial.mjs");
  writeFileSync(
    trialScript,
    `const args = Object.fromEntries(process.argv.slice(2).map((a) => { const [k, v] = a.replace(/^--/, "").split("="); return [k, Number(v)]; }));
const d = args["models.1.parameters.density"], w = args["models.1.parameters.weight"];
const score = ${trialScores.toString()};
const { forgetValue, retainValue, final } = score(d, w);
const row = { "eval/final": final };
for (const task of ["Task1", "Task2"]) for (const m of ["regurgitation", "knowledge"]) {
  row["eval/forget/" + task + "/" + m] = forgetValue;
  row["eval/retain/" + task + "/" + m] = retainValue;
}
console.log(JSON.stringify(row));
`,
  );
  const config = validateSweepConfig({
    name: "ties-density-weight",
    method: "grid",
    metric: { name: "eval/final", goal: "maximize" },
    command: [process.execPath, trialScript, "${args}"],
    parameters: {
      "models.1.parameters.density": { values: [0.2, 0.5, 0.8] },
      "models.1.parameters.weight": { values: [0.5, 1.0] },
    },
  });
  await runSweep({ config, runsDir, parallel: 2, sweepId: "ties", echo: false, log: () => {} });
  const trials = [0.2, 0.5, 0.8].flatMap((density) =>
    [0.5, 1.0].map((weight) => {
      const s = trialScores(density, weight);
      return { density, weight, forget: 1 - s.forgetValue, retain: s.retainValue, final: s.final };
    }),
  );
  return { runsDir, losses, residual, checkpoints, trials };
}

/** Pareto front (maximising both), by brute force over the pairs. */
function paretoCount(points: { forget: number; retain: number }[]): number {
  return points.filter(
    (p) =>
      !points.some(
        (q) =>
          q !== p &&
          q.forget >= p.forget &&
          q.retain >= p.retain &&
          (q.forget > p.forget || q.retain > p.retain),
      ),
  ).length;
}

let fixture: Fixture;
let dashboard: Dashboard;

beforeAll(async () => {
  fixture = await generate(mkdtempSync(join(tmpdir(), "lethe-dash-")));
  dashboard = await startDashboard({ runsDir: fixture.runsDir, port: 0 });
});

afterAll(async () => {
  await dashboard?.close();
});

describe("dashboard API", () => {
  const get = async (path: string) => {
    const res = await fetch(new URL(path, dashboard.url));
    return {
      status: res.status,
      body: res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text(),
    };
  };

  it("serves on 127.0.0.1 and refuses other Host names (DNS rebinding)", async () => {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const status = (host: string) =>
      new Promise<number>((resolveStatus, reject) => {
        const req = request(
          { host: "127.0.0.1", port: dashboard.port, path: "/api/runs", headers: { host } },
          (res) => {
            res.resume();
            resolveStatus(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(await status("evil.example")).toBe(403);
    expect(await status(`localhost:${dashboard.port}`)).toBe(200);
  });

  it("bundles its assets: no URL in the page points off the server", async () => {
    const page = (await get("/")).body as string;
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    const uplot = await get("/assets/uplot.esm.js");
    expect(uplot.status).toBe(200);
    expect(uplot.body as string).toContain("uPlot");
  });

  it("lists runs, their curves and tables", async () => {
    const { body } = await get("/api/runs");
    const runs = (body as { runs: { name: string; id: string; state: string; group: string | null }[] }).runs;
    expect(runs).toHaveLength(5 + 6);
    const over = runs.find((r) => r.name === "npo-over")!;
    const detail = (await get(`/api/runs/${over.id}`)).body as {
      history_keys: string[];
      tables: { name: string; layerwise: boolean }[];
    };
    expect(detail.history_keys).toEqual(["train/forget_loss", "train/loss"]);
    expect(detail.tables).toEqual([
      {
        name: "layers_residual",
        columns: ["layer", "forget_cosine", "retain_cosine", "forget_norm_ratio"],
        rows: LAYERS,
        layerwise: true,
      },
    ]);
    const history = (await get(`/api/runs/${over.id}/history?keys=train/loss`)).body as {
      _step: number[];
      "train/loss": number[];
    };
    expect(history["train/loss"]).toEqual(fixture.losses.get("npo-over"));
    expect(history._step).toEqual(fixture.losses.get("npo-over")!.map((_, i) => i));
    expect((await get("/api/runs/..%2Fetc")).status).toBe(404);
  });

  it("builds the lineage from artifact metadata and checkpoint manifests", async () => {
    const { body } = await get("/api/lineage");
    const lineage = body as {
      nodes: { id: string; run_id: string | null }[];
      edges: { from: string; to: string }[];
    };
    const c = fixture.checkpoints;
    expect(lineage.nodes.map((n) => n.id).sort()).toEqual(
      [c.base, c.merged, c.model1, c.model2, c.rmu].sort(),
    );
    expect(lineage.nodes.find((n) => n.id === c.base)!.run_id).toBeNull();
    expect(lineage.edges.map((e) => `${e.from} -> ${e.to}`).sort()).toEqual(
      [`${c.base} -> ${c.rmu}`, `${c.model1} -> ${c.merged}`, `${c.model2} -> ${c.merged}`].sort(),
    );
  });
});

describe("dashboard in Chromium", () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "lethe-chromium-")), {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1400, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(msg.text());
    });
    (page as Page & { errors?: string[] }).errors = errors;
  }, 120_000);

  afterAll(async () => {
    await context?.close();
  });

  async function open(view: string): Promise<void> {
    await page.evaluate((v) => {
      location.hash = v;
    }, view);
    await page.waitForFunction(
      (v) => document.body.dataset.view === v && document.body.dataset.ready === "true",
      view,
    );
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  it("shows every run and filters the table", async () => {
    await page.goto(dashboard.url);
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    const rows = () => page.locator("#runs-table tbody tr").count();
    expect(await rows()).toBe(11);
    await shot("runs");
    await page.fill("#filter-text", "group=zju");
    expect(await rows()).toBe(5);
    await page.fill("#filter-text", "models.1.parameters.density>0.4");
    expect(await rows()).toBe(4);
    await page.fill("#filter-text", "npo");
    expect(await rows()).toBe(3);
    await page.fill("#filter-text", "");
    await page.selectOption("#filter-state", "failed");
    expect(await rows()).toBe(1);
    expect(await page.locator("#runs-table tbody tr td").nth(1).textContent()).toBe("npo-broken");
    await page.selectOption("#filter-state", "");
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
  });

  it("overlays the loss curves of the checked runs", async () => {
    await page.fill("#filter-text", "group=zju");
    await open("curves");
    await page.selectOption("#curve-metric", "train/loss");
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    // uPlot draws on a canvas and lists the x series plus one row per run in its legend.
    expect(await page.locator("#curves-chart canvas").count()).toBeGreaterThan(0);
    const legend = await page.locator("#curves-chart .u-legend .u-series").allTextContents();
    expect(legend).toHaveLength(1 + 4);
    for (const name of ["npo-over", "npo-under", "rmu-l7", "npo-broken"])
      expect(legend.some((l) => l.includes(name))).toBe(true);
    const info = await page.textContent("#curve-info");
    expect(info).toBe(`4 runs, ${Math.max(...[...fixture.losses.values()].map((c) => c.length))} steps`);
    await shot("curves");
  });

  it("draws layer × metric heatmaps, and pivots a long table by module", async () => {
    await open("layers");
    const runs = await page.locator("#layer-run option").allTextContents();
    expect(runs.sort()).toEqual(["npo-over", "npo-under", "rmu-l7", "ties-merge"]);
    await page.selectOption("#layer-run", { label: "npo-over" });
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    const cells = page.locator("#heatmap rect.heat-cell");
    expect(await cells.count()).toBe(3 * LAYERS);
    const expected = fixture.residual.get("npo-over")!;
    const cell = page.locator('#heatmap rect.heat-cell[data-row="forget_norm_ratio"][data-col="5"]');
    expect(Number(await cell.getAttribute("data-value"))).toBe(expected[5]![3]);
    // Colours are scaled per metric: the smallest forget_norm_ratio (layer 0) and the largest differ.
    const first = await page
      .locator('#heatmap rect.heat-cell[data-row="forget_norm_ratio"][data-col="0"]')
      .getAttribute("fill");
    const last = await page
      .locator(`#heatmap rect.heat-cell[data-row="forget_norm_ratio"][data-col="${LAYERS - 1}"]`)
      .getAttribute("fill");
    expect(first).not.toBe(last);
    await shot("layers-residual");
    await page.selectOption("#layer-run", { label: "ties-merge" });
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    expect(await cells.count()).toBe(2 * LAYERS);
    expect(
      await page
        .locator('#heatmap rect.heat-cell[data-row="self_attn.o_proj"][data-col="3"]')
        .getAttribute("data-value"),
    ).toBe(String(0.1 * 3 + 1));
    await shot("layers-weight-delta");
  });

  it("shows the sweep: parallel coordinates, forget vs retain with the Pareto front, the best final score", async () => {
    await open("sweeps");
    expect(await page.locator("#sweep-select").inputValue()).toBe("ties");
    expect(await page.locator("#parallel path.pc-line").count()).toBe(6);
    expect(await page.locator("#parallel path.pc-line.no-metric").count()).toBe(0);
    expect(await page.locator("#scatter-x").inputValue()).toBe("semeval:forget");
    expect(await page.locator("#scatter-y").inputValue()).toBe("semeval:retain");
    expect(await page.locator("#scatter circle.scatter-point").count()).toBe(6);
    expect(await page.locator("#scatter circle.scatter-point.pareto").count()).toBe(
      paretoCount(fixture.trials),
    );
    expect(await page.locator("#scatter path.pareto-front").count()).toBe(1);
    // The ring marks the trial with the best SemEval final score.
    const best = fixture.trials.reduce((a, b) => (b.final > a.final ? b : a));
    const bestId = await page.locator("#scatter circle.best-final").getAttribute("data-id");
    const sweep = JSON.parse(
      readFileSync(join(fixture.runsDir, ".sweeps", "ties", "sweep.json"), "utf8"),
    ) as {
      trials: { run_id: string; params: Record<string, number>; metric: number }[];
      best: { run_id: string };
    };
    const bestTrial = sweep.trials.find((t) => t.run_id === bestId)!;
    expect(bestTrial.params).toEqual({
      "models.1.parameters.density": best.density,
      "models.1.parameters.weight": best.weight,
    });
    expect(bestTrial.metric).toBeCloseTo(best.final, 12);
    expect(sweep.best.run_id).toBe(bestId);
    expect(await page.locator("#trials-table tbody tr").count()).toBe(6);
    await shot("sweeps");
  });

  it("draws the artifact lineage with the merge node", async () => {
    await open("lineage");
    expect(await page.locator("#lineage g.lineage-node").count()).toBe(5);
    expect(await page.locator("#lineage path.lineage-edge").count()).toBe(3);
    expect(await page.locator("#lineage g.lineage-node.merge").getAttribute("data-id")).toBe(
      fixture.checkpoints.merged,
    );
    expect(await page.locator("#lineage g.lineage-node.external").getAttribute("data-id")).toBe(
      fixture.checkpoints.base,
    );
    await shot("lineage");
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
  });
});
