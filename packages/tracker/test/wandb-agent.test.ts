// biome-ignore-all lint/suspicious/noTemplateCurlyInString: W&B command macros are literal "${name}" strings
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runAgent, wandbSettings } from "../src/index.js";
import { buildTrialCommand, parseSweepPath } from "../src/wandb/agent.js";
import { FakeWandbServer } from "./helpers/fake-wandb-server.js";
import { CHILD_RUN, TS_NODE_FLAGS } from "./helpers/spawn-child.js";

let server: FakeWandbServer;
let runsDir: string;
beforeAll(async () => {
  server = await FakeWandbServer.start();
  runsDir = mkdtempSync(join(tmpdir(), "lethe-agent-"));
});
afterAll(async () => {
  await server.close();
  rmSync(runsDir, { recursive: true, force: true });
});

/** A sweep whose trials are test/helpers/child-run.ts, reporting loss = lr / (i + 1) for 3 rows. */
function sweepConfig(extraArgs: string[]): Record<string, unknown> {
  return {
    program: CHILD_RUN,
    method: "grid",
    metric: { name: "loss", goal: "minimize" },
    parameters: { lr: { values: [0.5, 0.25] } },
    command: [
      "${env}",
      process.execPath,
      ...TS_NODE_FLAGS,
      "${program}",
      "--rows=3",
      "--metric-from-config=lr",
      ...extraArgs,
      "${args}",
    ],
  };
}

const agentOptions = (sweepId: string, extra: Partial<Parameters<typeof runAgent>[0]> = {}) => ({
  sweepId,
  settings: wandbSettings(server.env()),
  heartbeatMs: 100,
  stopGraceMs: 20_000,
  runsDir,
  env: { ...process.env, LETHE_RUNS_DIR: runsDir, LETHE_TRACKER: "local" },
  stdio: "ignore" as const,
  log: () => {},
  client: { requestTimeoutMs: 5000, retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 } },
  ...extra,
});

describe("lethe-track agent", () => {
  it("runs the trials the controller hands out, each reporting to W&B as a run of the sweep", {
    timeout: 300_000,
  }, async () => {
    const sweep = server.createSweep({
      project: "sweeps",
      config: sweepConfig([]),
      plan: [{ lr: 0.5 }, { lr: 0.25 }],
    });
    const result = await runAgent(agentOptions(`sweeps/${sweep.id}`));

    expect(result.reason).toBe("exit");
    expect(result.trials.map((t) => [t.runId, t.exitCode, t.stopped])).toEqual(
      sweep.issued.map((i) => [i.runId, 0, false]),
    );
    const agent = server.agents.get(result.agentId)!;
    expect(agent).toMatchObject({ sweep: sweep.id });
    // heartbeats report the live trial, and an idle agent ({}) between trials
    const issued = sweep.issued.map((i) => i.runId);
    expect(agent.heartbeats[0]).toEqual({});
    expect(agent.heartbeats.some((h) => h[issued[0]!] === true)).toBe(true);
    expect(agent.heartbeats.at(-1)).toEqual({});

    for (const { runId, params } of sweep.issued) {
      const run = server.run("sweeps", runId)!;
      const lr = params.lr as number;
      expect(run.sweep).toBe(sweep.id);
      // the sampled value arrives twice: in the config (WANDB_SWEEP_PARAM_PATH) and as --lr=... (${args})
      expect(run.config).toMatchObject({ lr: { value: lr }, cli_lr: { value: lr }, rows: { value: 3 } });
      expect(server.historyRows("sweeps", runId).map((r) => r.loss)).toEqual([lr, lr / 2, lr / 3]);
      expect(run.complete).toEqual({ exitcode: 0 });
      const paramFile = join(runsDir, `sweep-${sweep.id}`, `config-${runId}.yaml`);
      expect(parse(readFileSync(paramFile, "utf8"))).toEqual({ lr: { value: lr } });
      expect(existsSync(join(runsDir, runId, "run.json"))).toBe(true);
    }
  });

  it("stops a trial on a stop command (SIGTERM: the run finishes with 143) and honours --count", {
    timeout: 300_000,
  }, async () => {
    const sweep = server.createSweep({
      project: "sweeps",
      config: sweepConfig(["--end=hang"]),
      plan: [{ lr: 1 }, { lr: 2 }, { lr: 3 }],
    });
    const watcher = setInterval(() => {
      for (const agent of server.agents.values()) {
        if (agent.sweep !== sweep.id) continue;
        const trial = sweep.issued[0];
        const run = trial && server.run("sweeps", trial.runId);
        // once the trial has streamed its rows, ask the agent to stop it
        if (trial && run && run.history.size === 3 && agent.queued.length === 0 && !run.complete) {
          server.pushCommands(agent.id, { type: "stop", run_id: trial.runId });
          clearInterval(watcher);
        }
      }
    }, 50);
    const result = await runAgent(
      agentOptions(sweep.id, { entity: "test-entity", project: "sweeps", count: 1 }),
    ).finally(() => clearInterval(watcher));
    expect(result.reason).toBe("count");
    expect(sweep.issued).toHaveLength(1);
    expect(result.trials).toHaveLength(1);
    expect(result.trials[0]).toMatchObject({ stopped: true, signal: "SIGTERM", exitCode: null });
    const run = server.run("sweeps", result.trials[0]!.runId)!;
    expect(run.complete).toEqual({ exitcode: 143 });
  });

  it("ends when the sweep is deleted, and parses sweep paths and command templates", async () => {
    const sweep = server.createSweep({ project: "sweeps", config: sweepConfig([]), plan: [] });
    sweep.state = "PAUSED"; // the controller hands out nothing, the agent keeps heartbeating
    const pending = runAgent(agentOptions(`test-entity/sweeps/${sweep.id}`));
    while (![...server.agents.values()].some((a) => a.sweep === sweep.id && a.heartbeats.length > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    sweep.deleted = true; // the next heartbeat gets a 404
    const result = await pending;
    expect(result).toMatchObject({ reason: "deleted", trials: [] });

    expect(parseSweepPath("e/p/abc")).toEqual({ entity: "e", project: "p", sweep: "abc" });
    expect(parseSweepPath("p/abc")).toEqual({ entity: null, project: "p", sweep: "abc" });
    expect(() => parseSweepPath("a/b/c/d")).toThrow(
      'sweep id "a/b/c/d": expected ID, PROJECT/ID or ENTITY/PROJECT/ID',
    );
    const args = { lr: 0.001, name: "x", layers: [1, 2], flag: true };
    expect(buildTrialCommand(null, "train.py", args, () => "/tmp/a.json")).toEqual([
      "/usr/bin/env",
      "python",
      "train.py",
      "--lr=0.001",
      "--name=x",
      "--layers=[1,2]",
      "--flag=true",
    ]);
    expect(
      buildTrialCommand(
        ["run", "${args_no_hyphens}", "${args_json_file}"],
        "t.js",
        { a: 1 },
        () => "/tmp/a.json",
      ),
    ).toEqual(["run", "a=1", "/tmp/a.json"]);
    expect(
      buildTrialCommand(["${interpreter}", "${program}", "${args_json}"], "t.js", { a: 1 }, () => ""),
    ).toEqual([process.execPath, "t.js", '{"a":1}']);
    expect(() => buildTrialCommand(["${nope}"], "t.js", {}, () => "")).toThrow(
      "sweep command: unknown macro ${nope}",
    );
  });
});
