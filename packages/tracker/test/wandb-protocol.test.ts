import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseWandbMode, startRun, syncRun, type WandbBackendOptions, wandbSettings } from "../src/index.js";
import { FakeWandbServer } from "./helpers/fake-wandb-server.js";

let server: FakeWandbServer;
let runsDir: string;
beforeEach(async () => {
  server = await FakeWandbServer.start();
  runsDir = mkdtempSync(join(tmpdir(), "lethe-wandb-"));
});
afterEach(async () => {
  await server.close();
  rmSync(runsDir, { recursive: true, force: true });
});

const fast: WandbBackendOptions = {
  flushIntervalMs: 5,
  client: { requestTimeoutMs: 2000, retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 } },
};
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...server.env(),
  LETHE_RUNS_DIR: runsDir,
  LETHE_TRACKER: "local,wandb",
  ...extra,
});

describe("W&B backend against the recording server", () => {
  it("creates the run, streams history and summary with offsets, and completes it", async () => {
    const run = await startRun({
      project: "unlearn",
      name: "npo-a",
      group: "g1",
      tags: ["npo"],
      job_type: "train",
      config: { lr: 0.1 },
      env: env(),
      wandb: fast,
      exitHandlers: false,
    });
    for (let i = 0; i < 25; i++) run.log({ loss: 1 / (i + 1) });
    run.summary({ best: 0.04 });
    await run.finish(0);

    // Viewer resolves the entity, RunResumeStatus finds no run, UpsertBucket creates it.
    expect(
      server
        .graphqlOps()
        .map((r) => r.op)
        .slice(0, 3),
    ).toEqual(["Viewer", "RunResumeStatus", "UpsertBucket"]);
    const fake = server.run("unlearn", run.id)!;
    expect(fake).toMatchObject({ displayName: "npo-a", groupName: "g1", jobType: "train", tags: ["npo"] });
    expect(fake.config).toEqual({ lr: { value: 0.1 } });
    const rows = server.historyRows("unlearn", run.id);
    expect(rows.map((r) => r._step)).toEqual([...Array(25).keys()]);
    expect(rows.map((r) => r.loss)).toEqual([...Array(25).keys()].map((i) => 1 / (i + 1)));
    // the lines on the server are byte for byte the local history file
    const local = readFileSync(join(run.dir!, "history.jsonl"), "utf8").trim().split("\n");
    expect([...fake.history.values()]).toEqual(local);
    expect(fake.summary).toEqual({ loss: 1 / 25, best: 0.04 });
    expect(fake.complete).toEqual({ exitcode: 0 });
    expect(fake.conflicts).toEqual([]);

    // every file_stream request's history offset is the number of lines sent before it
    let expected = 0;
    for (const request of server.fileStreamRequests()) {
      const files =
        (request.body as { files?: Record<string, { offset: number; content: string[] }> }).files ?? {};
      const history = files["wandb-history.jsonl"];
      if (history) {
        expect(history.offset).toBe(expected);
        expected += history.content.length;
      }
      if (files["wandb-summary.json"]) expect(files["wandb-summary.json"].offset).toBe(0);
    }
    const last = server.fileStreamRequests().at(-1)!.body;
    expect(last).toEqual({ complete: true, exitcode: 0 });
    expect(run.url).toBe(`${server.url}/test-entity/unlearn/runs/${run.id}`);
  });

  it("sends config updates as a second UpsertBucket, tables as table-file media, artifacts by reference", async () => {
    const run = await startRun({
      project: "p",
      config: { lr: 1 },
      env: env(),
      wandb: fast,
      exitHandlers: false,
    });
    run.log({ loss: 1 });
    run.config.update({ rank: 8 });
    run.table(
      "samples",
      ["prompt", "completion"],
      [
        ["a", "b"],
        ["c", "d"],
        ["e", "f"],
      ],
    );
    run.artifact("ckpt", "model", "s3://lethe/ckpts/run1/step-100/", { step: 100 });
    await run.finish(0);

    const fake = server.run("p", run.id)!;
    expect(fake.upserts).toBeGreaterThanOrEqual(2);
    expect(fake.config).toEqual({ lr: { value: 1 }, rank: { value: 8 } });

    const tableBytes = readFileSync(join(run.dir!, "tables", "samples.table.json"));
    const sha = createHash("sha256").update(tableBytes).digest("hex");
    const path = `media/table/samples_${sha.slice(0, 20)}.table.json`;
    expect(fake.files.get(path)?.equals(tableBytes)).toBe(true);
    expect(fake.summary?.samples).toEqual({
      _type: "table-file",
      path,
      sha256: sha,
      size: tableBytes.length,
      ncols: 2,
      nrows: 3,
    });
    expect(fake.summary?.loss).toBe(1);

    expect(server.artifacts).toHaveLength(1);
    const artifact = server.artifacts[0]!;
    expect(artifact).toMatchObject({
      type: "model",
      collection: "ckpt",
      run: run.id,
      state: "COMMITTED",
      metadata: { step: 100 },
    });
    const uri = "s3://lethe/ckpts/run1/step-100/";
    expect(artifact.manifest).toEqual({
      version: 1,
      storagePolicy: "wandb-storage-policy-v1",
      storagePolicyConfig: { storageLayout: "V2" },
      contents: { "step-100": { digest: uri, ref: uri, extra: {} } },
    });
    // MANIFEST_MD5, computed here from its definition
    const digest = createHash("md5").update(`wandb-artifact-manifest-v1\nstep-100:${uri}\n`).digest("hex");
    expect(artifact.digest).toBe(digest);
    expect(fake.complete).toEqual({ exitcode: 0 });
  });

  it("WANDB_MODE=offline sends nothing; sync uploads the run later", async () => {
    const run = await startRun({
      project: "off",
      config: { a: 1 },
      env: env({ WANDB_MODE: "offline" }),
      wandb: fast,
      exitHandlers: false,
    });
    for (let i = 0; i < 12; i++) run.log({ v: i });
    run.table("t", ["x"], [[1]]);
    await run.finish(0);
    expect(server.requests).toEqual([]);

    const settings = wandbSettings(server.env());
    const result = await syncRun(run.dir!, { settings, batchLines: 5, client: fast.client! });
    expect(result).toMatchObject({
      runId: run.id,
      entity: "test-entity",
      project: "off",
      sentLines: 12,
      totalLines: 12,
      completed: true,
    });
    expect(server.historyRows("off", run.id).map((r) => r.v)).toEqual([...Array(12).keys()]);
    expect(server.run("off", run.id)!.complete).toEqual({ exitcode: 0 });
    expect(server.run("off", run.id)!.summary?.t).toMatchObject({ _type: "table-file", nrows: 1 });

    // a second sync finds nothing to send and does not duplicate anything
    const before = server.run("off", run.id)!.historyWrites;
    const again = await syncRun(run.dir!, { settings, client: fast.client! });
    expect(again.sentLines).toBe(0);
    expect(server.run("off", run.id)!.historyWrites).toBe(before);
  });

  it("re-sends from the server's line count when the server lost lines the spool thought acknowledged", async () => {
    const run = await startRun({
      project: "p",
      env: env({ WANDB_MODE: "offline" }),
      wandb: fast,
      exitHandlers: false,
    });
    for (let i = 0; i < 10; i++) run.log({ v: i });
    await run.finish(0);
    const settings = wandbSettings(server.env());
    await syncRun(run.dir!, { settings, client: fast.client! });
    const fake = server.run("p", run.id)!;
    for (let offset = 6; offset < 10; offset++) fake.history.delete(offset);
    fake.complete = null;
    const spoolState = join(run.dir!, "wandb.json");
    const state = JSON.parse(readFileSync(spoolState, "utf8"));
    state.complete = null;
    writeFileSync(spoolState, JSON.stringify(state));

    const result = await syncRun(run.dir!, { settings, client: fast.client! });
    expect(result.sentLines).toBe(4);
    expect(server.historyRows("p", run.id).map((r) => r.v)).toEqual([...Array(10).keys()]);
    expect(fake.complete).toEqual({ exitcode: 0 });
  });

  it("resumes a finished run: history continues at the next offset and the run completes again", async () => {
    const first = await startRun({
      project: "p",
      id: "resumed1",
      env: env(),
      wandb: fast,
      exitHandlers: false,
    });
    for (let i = 0; i < 5; i++) first.log({ v: i });
    await first.finish(1);
    expect(server.run("p", "resumed1")!.complete).toEqual({ exitcode: 1 });
    const requestsBefore = server.fileStreamRequests().length;

    const second = await startRun({
      project: "p",
      id: "resumed1",
      resume: "must",
      env: env(),
      wandb: fast,
      exitHandlers: false,
    });
    for (let i = 5; i < 8; i++) second.log({ v: i });
    await second.finish(0);
    const rows = server.historyRows("p", "resumed1");
    expect(rows.map((r) => [r._step, r.v])).toEqual([...Array(8).keys()].map((i) => [i, i]));
    expect(server.run("p", "resumed1")!.complete).toEqual({ exitcode: 0 });
    // the second session sent only the new lines, from offset 5 on
    const offsets = server
      .fileStreamRequests()
      .slice(requestsBefore)
      .flatMap((r) => {
        const history = (r.body as { files?: Record<string, { offset: number; content: string[] }> }).files?.[
          "wandb-history.jsonl"
        ];
        return history ? [[history.offset, history.content.length]] : [];
      });
    expect(offsets[0]![0]).toBe(5);
    expect(offsets.reduce((n, [, len]) => n + len!, 0)).toBe(3);
    expect(server.run("p", "resumed1")!.conflicts).toEqual([]);
  });

  it("fails fast on a rejected API key and leaves no run directory behind", async () => {
    await expect(
      startRun({ project: "p", env: env({ WANDB_API_KEY: "wrong" }), wandb: fast, exitHandlers: false }),
    ).rejects.toThrow(/W&B Viewer at http:\/\/127\.0\.0\.1:\d+\/graphql: HTTP 401/);
    expect(server.graphqlOps("Viewer")).toHaveLength(1); // 401 is not retried
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(runsDir)).toEqual([]);
  });

  it("retries 429 and 500 with new requests and honours WANDB_ENTITY", async () => {
    server.setFaults({ rate: 1, seed: 3, kinds: ["429", "500"], routes: ["file_stream"], limit: 4 });
    const run = await startRun({
      project: "p",
      env: env({ WANDB_ENTITY: "team" }),
      wandb: fast,
      exitHandlers: false,
    });
    run.log({ v: 1 });
    await run.finish(0);
    expect(server.graphqlOps("Viewer")).toHaveLength(0);
    expect(server.historyRows("p", run.id, "team").map((r) => r.v)).toEqual([1]);
    expect(server.faultCounts()).toMatchObject({ "429": 2, "500": 2 });
    // the four refused requests and the one that went through carry the same row at the same offset
    const attempts = server
      .fileStreamRequests()
      .filter((r) => JSON.stringify(r.body).includes("wandb-history.jsonl"));
    expect(attempts.map((r) => r.status)).toEqual([429, 500, 429, 500, 200]);
    expect(new Set(attempts.map((r) => JSON.stringify(r.body))).size).toBe(1);
  });
});

describe("W&B environment", () => {
  it("reads settings as the Python client does", () => {
    const home = mkdtempSync(join(tmpdir(), "lethe-netrc-"));
    try {
      writeFileSync(
        join(home, ".netrc"),
        "machine other.host login user password nope\nmachine wandb.example.com\n  login user\n  password secret-key\n",
      );
      const fromNetrc = wandbSettings({ HOME: home, WANDB_BASE_URL: "https://wandb.example.com/" });
      expect(fromNetrc).toEqual({
        baseUrl: "https://wandb.example.com",
        apiKey: "secret-key",
        entity: null,
        project: null,
        mode: "online",
      });
      const fromEnv = wandbSettings({
        HOME: home,
        WANDB_BASE_URL: "https://wandb.example.com",
        WANDB_API_KEY: "env-key",
        WANDB_ENTITY: "e",
        WANDB_PROJECT: "p",
        WANDB_MODE: "dryrun",
      });
      expect(fromEnv).toEqual({
        baseUrl: "https://wandb.example.com",
        apiKey: "env-key",
        entity: "e",
        project: "p",
        mode: "offline",
      });
      expect(wandbSettings({ HOME: home }).apiKey).toBeNull();
      expect(wandbSettings({ HOME: home }, { apiKey: "opt", mode: "offline" })).toMatchObject({
        apiKey: "opt",
        mode: "offline",
        baseUrl: "https://api.wandb.ai",
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    expect(parseWandbMode("disabled")).toBe("disabled");
    expect(parseWandbMode(null, "true")).toBe("disabled");
    expect(() => parseWandbMode("sometimes")).toThrow(
      'WANDB_MODE="sometimes": expected online, offline or disabled',
    );
  });

  it("WANDB_MODE=disabled drops the W&B backend", async () => {
    const run = await startRun({ project: "p", env: env({ WANDB_MODE: "disabled" }), exitHandlers: false });
    expect(run.backendKinds).toEqual(["local"]);
    await run.finish();
    expect(server.requests).toEqual([]);
  });
});
