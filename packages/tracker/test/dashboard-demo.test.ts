/**
 * The dashboard on the demo's own runs (examples/demo.sh → semeval-mini: data, tiny base, memorised, two LoRA unlearning
 * runs, two TIES merges, an RMU sweep, evaluations) plus a two-trial TIES sweep over its adapters, in Debian's Chromium: every view shows
 * something or says why, runs are named after what they did, constant sweep parameters are not axes, and
 * no caption is cut off. Screenshots go to test-artifacts/dashboard/demo-*.png. Needs the built bins.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binPath, REPO_ROOT } from "../../core/test/helpers/cli.js";
import { type Dashboard, startDashboard } from "../src/dashboard/server.js";

const SCREENSHOTS = resolve(__dirname, "../../../test-artifacts/dashboard");

function sh(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolveRun, reject) => {
    let output = "";
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolveRun()
        : reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${output}`)),
    );
  });
}

let demo: string;
let dashboard: Dashboard;
let context: BrowserContext;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  binPath("tracker", "lethe-track");
  demo = mkdtempSync(join(tmpdir(), "lethe-demo-dash-"));
  const env = { ...process.env, LETHE_DEMO_DIR: demo, LETHE_RUNS_DIR: join(demo, "runs") };
  delete env["LETHE_TRACKER"];
  await sh("bash", ["examples/demo.sh", "--small"], env); // the reduced setting: the same stages and runs
  const sweep = join(demo, "sweep.yml");
  writeFileSync(
    sweep,
    `name: demo-ties
program: examples/sweeps/merge-and-score.mjs
method: grid
metric: { name: eval/final, goal: maximize }
parameters:
  models.0.parameters.density: { values: [0.3, 0.8] }
  merge_config: { value: ${demo}/ties.yml }
  out_root: { value: ${demo}/sweep }
  eval.forget: { value: ${demo}/data/forget.jsonl }
  eval.retain: { value: ${demo}/data/retain.jsonl }
  eval.mia-member: { value: ${demo}/data/member.jsonl }
  eval.mia-nonmember: { value: ${demo}/data/nonmember.jsonl }
  eval.max-new-tokens: { value: 2 }
`,
  );
  await sh(
    process.execPath,
    [binPath("tracker", "lethe-track"), "sweep", sweep, "--id", "demo-ties", "--quiet"],
    env,
  );
  dashboard = await startDashboard({ runsDir: join(demo, "runs"), port: 0 });
  mkdirSync(SCREENSHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "lethe-chromium-")), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
    ],
    viewport: { width: 1400, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(dashboard.url);
  await page.waitForFunction(() => document.body.dataset.ready === "true");
}, 300_000);

afterAll(async () => {
  await context?.close();
  await dashboard?.close();
});

async function open(view: string): Promise<void> {
  await page.evaluate((v) => {
    location.hash = v;
  }, view);
  await page.waitForFunction(
    (v) => document.body.dataset.view === v && document.body.dataset.ready === "true",
    view,
  );
  await page.screenshot({ path: join(SCREENSHOTS, `demo-${view}.png`), fullPage: true });
}

/** SVG texts in `selector` that stick out of their SVG (cut off when drawn). */
function clippedTexts(selector: string): Promise<string[]> {
  return page.evaluate((sel) => {
    const out: string[] = [];
    for (const svg of document.querySelectorAll(`${sel} svg`)) {
      const frame = svg.getBoundingClientRect();
      for (const text of svg.querySelectorAll("text")) {
        const box = text.getBoundingClientRect();
        if (
          box.left < frame.left - 0.5 ||
          box.right > frame.right + 0.5 ||
          box.top < frame.top - 0.5 ||
          box.bottom > frame.bottom + 0.5
        )
          out.push(text.textContent ?? "");
      }
    }
    return out;
  }, selector);
}

/** Axis titles (bold SVG texts) in `selector` that overlap another text, such as the tick labels. */
function overlappingTitles(selector: string): Promise<string[]> {
  return page.evaluate((sel) => {
    const texts = [...document.querySelectorAll(`${sel} svg text`)];
    const out: string[] = [];
    for (const title of texts.filter((t) => t.getAttribute("font-weight") === "600")) {
      const a = title.getBoundingClientRect();
      for (const other of texts) {
        if (other === title) continue;
        const b = other.getBoundingClientRect();
        if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
          out.push(`${title.textContent} over ${other.textContent}`);
      }
    }
    return out;
  }, selector);
}

describe("the dashboard on the demo's runs", () => {
  it("names every run after what it did: stages by job and subject, sweep trials by their run id", async () => {
    await open("runs");
    const names = await page.locator("#runs-table tbody tr td:nth-child(2)").allTextContents();
    expect(names).toEqual(
      expect.arrayContaining([
        "init base",
        "memorised",
        "zju-over",
        "zju-under",
        "merge ties-factorwise",
        "merge ties-delta",
        "eval memorised-final",
        "eval zju-over-final",
        "eval zju-under-final",
        "eval ties-factorwise",
        "eval ties-delta",
        "demo-ties-000",
        "demo-ties-001",
        "merge demo-ties-000",
      ]),
    );
    // Stage runs are told apart by their subject: no two evaluations share a name.
    const evals = names.filter((n) => n.startsWith("eval "));
    expect(new Set(evals).size).toBe(evals.length);
    expect(errors).toEqual([]);
  });

  it("curves and layers show the evaluation's progress and layer-wise numbers", async () => {
    await open("curves");
    expect(await page.locator("#curves-chart canvas").count()).toBeGreaterThan(0);
    await open("layers");
    await page.selectOption("#layer-run", { label: "eval ties-factorwise" });
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    expect(await page.locator("#heatmap rect.heat-cell").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SCREENSHOTS, "demo-layers.png"), fullPage: true });
  });

  it("draws only the parameter that varies, says why there is no best trial, and cuts no caption", async () => {
    await open("sweeps");
    const axes = await page.evaluate(() =>
      [...document.querySelectorAll("#parallel g.axis > text[font-weight='600']")].map(
        (t) => t.firstChild?.nodeValue,
      ),
    );
    expect(axes).toEqual(["models.0.parameters.density"]);
    expect(await page.locator("#parallel circle.pc-dot").count()).toBe(2);
    const notes = await page.textContent("#sweep-notes");
    expect(notes).toContain(
      "No trial logged eval/final, so there is no best trial and the lines are grey: the final score needs MMLU (give the trials --eval.mmlu DIR).",
    );
    expect(notes).toContain(
      `Same in every trial (not drawn as axes): eval.forget = ${demo}/data/forget.jsonl`,
    );
    expect(await clippedTexts("#view-sweeps")).toEqual([]);
    expect(await overlappingTitles("#scatter")).toEqual([]);
    const header = await page.locator("#trials-table thead th").allTextContents();
    expect(header).toEqual(["run", "state", "eval/final", "models.0.parameters.density"]);
  });

  it("draws the lineage data → base → memorised → specialised → merged → evaluated, crediting each checkpoint to its run", async () => {
    await open("lineage");
    const edge = (from: string, to: string) =>
      page.locator(`#lineage path.lineage-edge[data-from="${from}"][data-to="${to}"]`).count();
    const ckpt = (name: string) => join(demo, "checkpoints", name);
    expect(await edge(join(demo, "data", "corpus.txt"), ckpt("base"))).toBe(1);
    expect(await edge(ckpt("base"), ckpt("memorised/final"))).toBe(1);
    expect(await edge(ckpt("memorised/final"), ckpt("zju-over/final"))).toBe(1);
    expect(await edge(ckpt("zju-over/final"), ckpt("ties-factorwise"))).toBe(1);
    expect(await edge(ckpt("ties-factorwise"), join(demo, "eval", "ties-factorwise.json"))).toBe(1);
    const corpus = page.locator(`#lineage g.lineage-node[data-id="${join(demo, "data", "corpus.txt")}"]`);
    expect(await corpus.textContent()).not.toContain("run ");
    const merged = page.locator(`#lineage g.lineage-node[data-id="${ckpt("ties-factorwise")}"]`);
    expect(await merged.textContent()).toContain("run merge ties-factorwise");
    expect(await clippedTexts("#view-lineage")).toEqual([]);
    expect(errors).toEqual([]);
  });
});
