import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  artifactName,
  progressLogger,
  readRun,
  recordInputs,
  recordOutput,
  startStageRun,
} from "../src/index.js";

const runsDir = mkdtempSync(join(tmpdir(), "lethe-stage-"));
afterAll(() => rmSync(runsDir, { recursive: true, force: true }));
const env = { LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "local" };

describe("stage runs", () => {
  it("are named after job and subject, record typed config, inputs, outputs with parents, and progress", async () => {
    const run = await startStageRun("merge", { density: 0.5, threads: 2 }, "s3://b/runs/merged/", env);
    recordInputs(run, [{ uri: "/ckpt/base" }, { uri: "/ckpt/lora", type: "adapter" }]);
    const progress = progressLogger(run, 60_000);
    progress("merge", 1, 4); // the first row is logged
    progress("merge", 2, 4); // within the interval: skipped
    progress("merge", 4, 4); // the last always
    recordOutput(run, { uri: "s3://b/runs/merged/" }, ["/ckpt/base"]);
    await run.finish(0);
    const contents = await readRun(run.dir!);
    expect(contents.meta).toMatchObject({ name: "merge merged", job_type: "merge", project: "lethe" });
    expect(contents.config).toEqual({ density: 0.5, threads: 2 });
    expect(contents.history.map((r) => r["progress/merge"])).toEqual([0.25, 1]);
    expect(contents.artifacts.map((a) => [a.name, a.type, a.metadata])).toEqual([
      ["base", "model", { role: "input" }],
      ["lora", "adapter", { role: "input" }],
      ["merged", "model", { role: "output", parents: ["/ckpt/base"] }],
    ]);
  });

  it("keep the name a sweep trial's environment gives them", async () => {
    const run = await startStageRun("eval", {}, "/ckpt/x", { ...env, WANDB_RUN_ID: "trial-007" });
    await run.finish(0);
    expect((await readRun(run.dir!)).meta.name).toBe("trial-007");
  });

  it("turn URIs into artifact names the tracker accepts", () => {
    expect(artifactName("file:///a/b/model-a/")).toBe("model-a");
    expect(artifactName("s3://bucket/x y+z")).toBe("x_y_z");
    expect(artifactName("/")).toBe("checkpoint");
    expect(artifactName("s3://bucket/runs/zju-over/final/")).toBe("zju-over-final");
    expect(artifactName("/out/rmu/epoch-12")).toBe("rmu-epoch-12");
  });
});
