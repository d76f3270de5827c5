/**
 * A W&B-protocol server for tests, on 127.0.0.1. It speaks the operations Lethe's client sends (GraphQL
 * Viewer, UpsertBucket, RunResumeStatus, RunUploadUrls, the artifact mutations, UpsertSweep, Sweep,
 * CreateAgent, Heartbeat; the run file_stream; PUTs to the upload URLs it hands out), records every request,
 * keeps what a real server would keep (history lines by offset, summary, config, files, artifacts), and
 * can inject failures on a seeded schedule.
 *
 *   const server = await FakeWandbServer.start({ faults: { rate: 0.3, seed: 7 } });
 *   ... run with env { WANDB_BASE_URL: server.url, WANDB_API_KEY: server.apiKey } ...
 *   server.historyRows("proj", runId)        // rows in offset order; throws on a gap
 *   await server.close();
 *
 * Sweeps: `createSweep({ project, config, plan })` registers a sweep whose controller hands out the
 * parameter sets of `plan` in order, one `run` command per idle heartbeat, then `exit` once the plan is
 * used up and the agent has nothing running. `pushCommands(agentId, ...)` queues extra commands (a
 * `stop`) for that agent's next heartbeat.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { parse, stringify } from "yaml";

export type FaultKind = "drop" | "drop-after" | "500" | "429" | "slow";
export type FaultRoute = "graphql" | "file_stream" | "upload";

export interface FaultSchedule {
  /** Probability that an eligible request fails. */
  rate: number;
  seed: number;
  /** Failure kinds, used in turn (so every kind occurs once enough requests fail). Default: all five. */
  kinds?: FaultKind[];
  /** Routes that may fail. Default: all. */
  routes?: FaultRoute[];
  /** Delay of a "slow" reply (the request is processed first). Default 300 ms. */
  slowMs?: number;
  /** Stop injecting after this many failures. */
  limit?: number;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  path: string;
  route: FaultRoute | "other";
  /** GraphQL operation name. */
  op: string | null;
  variables: Record<string, unknown> | null;
  /** Parsed JSON body (GraphQL, file_stream), else null. */
  body: unknown;
  bytes: number;
  fault: FaultKind | null;
  /** HTTP status sent; null when the connection was dropped. */
  status: number | null;
}

export interface FakeRun {
  entity: string;
  project: string;
  name: string;
  displayName: string | null;
  groupName: string | null;
  jobType: string | null;
  notes: string | null;
  sweep: string | null;
  host: string | null;
  tags: string[];
  /** The last config sent, parsed (W&B form: {key: {value}}). */
  config: Record<string, unknown> | null;
  upserts: number;
  /** History lines by offset. */
  history: Map<number, string>;
  /** Lines received in all, re-sends included. */
  historyWrites: number;
  /** Offsets that were re-sent with different content (never expected). */
  conflicts: number[];
  summary: Record<string, unknown> | null;
  complete: { exitcode: number } | null;
  /** Files uploaded into the run (tables as media/table/...). */
  files: Map<string, Buffer>;
}

export interface FakeArtifact {
  id: string;
  entity: string;
  project: string;
  run: string | null;
  type: string;
  collection: string;
  digest: string;
  metadata: unknown;
  aliases: unknown;
  state: "PENDING" | "COMMITTED";
  manifest: unknown;
  createCalls: number;
}

export interface FakeCommand {
  type: string;
  run_id?: string;
  program?: string;
  args?: Record<string, { value: unknown }>;
  [key: string]: unknown;
}

export interface FakeSweep {
  id: string;
  entity: string;
  project: string;
  /** The config as the YAML string a client uploaded. */
  config: string;
  state: string;
  plan: Record<string, unknown>[];
  issued: { runId: string; agentId: string; params: Record<string, unknown> }[];
  deleted: boolean;
}

export interface FakeAgent {
  id: string;
  sweep: string;
  host: string;
  heartbeats: Record<string, boolean>[];
  queued: FakeCommand[];
}

export interface FakeWandbOptions {
  entity?: string;
  apiKey?: string;
  faults?: FaultSchedule | null;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALL_FAULTS: FaultKind[] = ["drop", "drop-after", "500", "429", "slow"];

class GraphQLFailure extends Error {}
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class FakeWandbServer {
  readonly requests: RecordedRequest[] = [];
  readonly runs = new Map<string, FakeRun>();
  readonly artifacts: FakeArtifact[] = [];
  readonly sweeps = new Map<string, FakeSweep>();
  readonly agents = new Map<string, FakeAgent>();
  readonly entity: string;
  readonly apiKey: string;
  url = "";
  private faults: FaultSchedule | null = null;
  private random: () => number = Math.random;
  private faultTurn = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private counter = 0;
  private readonly server: Server;
  private readonly uploadToken = "fake-upload-token";

  private constructor(options: FakeWandbOptions) {
    this.entity = options.entity ?? "test-entity";
    this.apiKey = options.apiKey ?? "k".repeat(40);
    this.setFaults(options.faults ?? null);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  static async start(options: FakeWandbOptions = {}): Promise<FakeWandbServer> {
    const fake = new FakeWandbServer(options);
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** WANDB_BASE_URL and WANDB_API_KEY for a client of this server. */
  env(): Record<string, string> {
    return { WANDB_BASE_URL: this.url, WANDB_API_KEY: this.apiKey };
  }

  setFaults(schedule: FaultSchedule | null): void {
    this.faults = schedule;
    this.random = mulberry32(schedule?.seed ?? 1);
    this.faultTurn = 0;
  }

  graphqlOps(op?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.route === "graphql" && (op === undefined || r.op === op));
  }

  fileStreamRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.route === "file_stream");
  }

  faultCounts(): Record<FaultKind, number> {
    const counts = { drop: 0, "drop-after": 0, "500": 0, "429": 0, slow: 0 } as Record<FaultKind, number>;
    for (const r of this.requests) if (r.fault) counts[r.fault]++;
    return counts;
  }

  run(project: string, name: string, entity = this.entity): FakeRun | undefined {
    return this.runs.get(`${entity}/${project}/${name}`);
  }

  /** History rows of a run in offset order; throws when an offset is missing. */
  historyRows(project: string, name: string, entity = this.entity): Record<string, unknown>[] {
    const run = this.run(project, name, entity);
    if (!run) throw new Error(`fake W&B: no run ${entity}/${project}/${name}`);
    const rows: Record<string, unknown>[] = [];
    for (let offset = 0; offset < run.history.size; offset++) {
      const line = run.history.get(offset);
      if (line === undefined)
        throw new Error(`fake W&B: run ${name} has no history line at offset ${offset}`);
      rows.push(JSON.parse(line));
    }
    return rows;
  }

  createSweep(input: {
    project: string;
    config: Record<string, unknown> | string;
    plan?: Record<string, unknown>[];
    entity?: string;
  }): FakeSweep {
    const sweep: FakeSweep = {
      id: this.nextId("sweep"),
      entity: input.entity ?? this.entity,
      project: input.project,
      config: typeof input.config === "string" ? input.config : stringify(input.config),
      state: "RUNNING",
      plan: input.plan ?? [],
      issued: [],
      deleted: false,
    };
    this.sweeps.set(sweep.id, sweep);
    return sweep;
  }

  pushCommands(agentId: string, ...commands: FakeCommand[]): void {
    const agent = this.agents.get(agentId);
    if (!agent) throw new Error(`fake W&B: no agent ${agentId}`);
    agent.queued.push(...commands);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private nextId(prefix: string): string {
    return `${prefix}${(++this.counter).toString(36).padStart(4, "0")}`;
  }

  private decideFault(route: FaultRoute | "other"): FaultKind | null {
    const f = this.faults;
    if (f === null || route === "other") return null;
    if (f.routes && !f.routes.includes(route)) return null;
    if (f.limit !== undefined && this.faultTurn >= f.limit) return null;
    if (this.random() >= f.rate) return null;
    const kinds = f.kinds ?? ALL_FAULTS;
    return kinds[this.faultTurn++ % kinds.length]!;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const path = (req.url ?? "/").split("?")[0]!;
    const route: FaultRoute | "other" =
      path === "/graphql"
        ? "graphql"
        : /^\/files\/[^/]+\/[^/]+\/[^/]+\/file_stream$/.test(path)
          ? "file_stream"
          : path.startsWith("/storage/")
            ? "upload"
            : "other";
    const record: RecordedRequest = {
      seq: this.requests.length,
      method: req.method ?? "GET",
      path,
      route,
      op: null,
      variables: null,
      body: null,
      bytes: raw.length,
      fault: null,
      status: null,
    };
    this.requests.push(record);
    if (route === "graphql" || route === "file_stream") {
      try {
        record.body = JSON.parse(raw.toString("utf8"));
      } catch {
        return this.reply(res, record, 400, { error: "body is not JSON" });
      }
      if (route === "graphql") {
        const body = record.body as { query?: string; variables?: Record<string, unknown> };
        record.op = /^\s*(?:query|mutation)\s+(\w+)/.exec(body.query ?? "")?.[1] ?? null;
        record.variables = body.variables ?? {};
      }
      if (req.headers.authorization !== `Basic ${Buffer.from(`api:${this.apiKey}`).toString("base64")}`) {
        return this.reply(res, record, 401, { error: "invalid API key" });
      }
    }

    const fault = this.decideFault(route);
    record.fault = fault;
    if (fault === "drop") {
      req.socket.destroy();
      return;
    }
    if (fault === "500") return this.reply(res, record, 500, { error: "injected 500" });
    if (fault === "429") {
      res.setHeader("Retry-After", "0");
      return this.reply(res, record, 429, { error: "injected 429" });
    }

    let status = 200;
    let payload: unknown;
    try {
      payload = this.process(route, req.method ?? "GET", path, record, raw, req);
    } catch (err) {
      if (err instanceof GraphQLFailure) payload = { errors: [{ message: err.message }] };
      else if (err instanceof HttpFailure) {
        status = err.status;
        payload = { error: err.message };
      } else {
        status = 500;
        payload = { error: String(err) };
      }
    }
    if (fault === "drop-after") {
      req.socket.destroy();
      return;
    }
    if (fault === "slow") {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.reply(res, record, status, payload);
      }, this.faults?.slowMs ?? 300);
      this.timers.add(timer);
      return;
    }
    this.reply(res, record, status, payload);
  }

  private reply(res: ServerResponse, record: RecordedRequest, status: number, payload: unknown): void {
    if (res.destroyed) return;
    record.status = status;
    const body = JSON.stringify(payload ?? {});
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  }

  private process(
    route: FaultRoute | "other",
    method: string,
    path: string,
    record: RecordedRequest,
    raw: Buffer,
    req: IncomingMessage,
  ): unknown {
    if (route === "graphql") return { data: this.graphql(record.op, record.variables ?? {}) };
    if (route === "file_stream") return this.fileStream(path, record.body as Record<string, unknown>);
    if (route === "upload" && method === "PUT") {
      if (req.headers["x-upload-token"] !== this.uploadToken)
        throw new HttpFailure(403, "missing upload token header");
      const key = decodeURIComponent(path.slice("/storage/".length));
      const artifactMatch = /^artifacts\/([^/]+)\/wandb_manifest\.json$/.exec(key);
      if (artifactMatch) {
        const artifact = this.artifacts.find((a) => a.id === artifactMatch[1]);
        if (!artifact) throw new HttpFailure(404, "no such artifact");
        artifact.manifest = JSON.parse(raw.toString("utf8"));
        return {};
      }
      const [entity, project, run, ...file] = key.split("/");
      const target = this.run(project ?? "", run ?? "", entity);
      if (!target) throw new HttpFailure(404, "no such run");
      target.files.set(file.join("/"), raw);
      return {};
    }
    throw new HttpFailure(404, `fake W&B: no route ${method} ${path}`);
  }

  private fileStream(path: string, body: Record<string, unknown>): unknown {
    const [, , entity, project, name] = path.split("/").map(decodeURIComponent);
    const run = this.run(project!, name!, entity);
    if (!run) throw new HttpFailure(404, `run ${entity}/${project}/${name} not found`);
    const files = (body.files ?? {}) as Record<string, { offset: number; content: string[] }>;
    const history = files["wandb-history.jsonl"];
    if (history) {
      history.content.forEach((line, i) => {
        const offset = history.offset + i;
        const previous = run.history.get(offset);
        if (previous !== undefined && previous !== line) run.conflicts.push(offset);
        run.history.set(offset, line);
        run.historyWrites++;
      });
    }
    const summary = files["wandb-summary.json"];
    if (summary && summary.content.length > 0)
      run.summary = JSON.parse(summary.content[summary.content.length - 1]!);
    if (body.complete === true) run.complete = { exitcode: Number(body.exitcode ?? 0) };
    return { exitcode: null, limits: {} };
  }

  private uploadUrl(key: string): string {
    return `${this.url}/storage/${key.split("/").map(encodeURIComponent).join("/")}`;
  }

  private graphql(op: string | null, v: Record<string, unknown>): unknown {
    const str = (key: string): string | null => (typeof v[key] === "string" ? (v[key] as string) : null);
    switch (op) {
      case "Viewer":
        return { viewer: { id: "viewer-1", entity: this.entity, flags: "{}", teams: { edges: [] } } };
      case "UpsertBucket": {
        const entity = str("entity") ?? this.entity;
        const project = str("project") ?? "uncategorized";
        const name = str("name");
        if (!name) throw new GraphQLFailure("UpsertBucket: name is required");
        const key = `${entity}/${project}/${name}`;
        let run = this.runs.get(key);
        const inserted = run === undefined;
        if (!run) {
          run = {
            entity,
            project,
            name,
            displayName: null,
            groupName: null,
            jobType: null,
            notes: null,
            sweep: null,
            host: null,
            tags: [],
            config: null,
            upserts: 0,
            history: new Map(),
            historyWrites: 0,
            conflicts: [],
            summary: null,
            complete: null,
            files: new Map(),
          };
          this.runs.set(key, run);
        }
        run.upserts++;
        for (const field of ["displayName", "groupName", "jobType", "notes", "sweep", "host"] as const) {
          const value = str(field);
          if (value !== null) run[field] = value;
        }
        if (Array.isArray(v["tags"])) run.tags = v["tags"] as string[];
        if (str("config") !== null) run.config = JSON.parse(str("config")!);
        return {
          upsertBucket: {
            bucket: {
              id: `run-${key}`,
              name,
              displayName: run.displayName,
              description: null,
              config: JSON.stringify(run.config ?? {}),
              sweepName: run.sweep,
              project: {
                id: `project-${project}`,
                name: project,
                entity: { id: `entity-${entity}`, name: entity },
              },
            },
            inserted,
          },
        };
      }
      case "RunResumeStatus": {
        const entity = str("entity") ?? this.entity;
        const project = str("project") ?? "uncategorized";
        const run = this.run(project, str("name") ?? "", entity);
        let lines = 0;
        while (run?.history.has(lines)) lines++;
        return {
          model: {
            id: `project-${project}`,
            name: project,
            entity: { id: `entity-${entity}`, name: entity },
            bucket: run
              ? {
                  id: `run-${run.name}`,
                  name: run.name,
                  historyLineCount: lines,
                  summaryMetrics: JSON.stringify(run.summary ?? {}),
                }
              : null,
          },
        };
      }
      case "RunUploadUrls": {
        const entity = str("entity") ?? this.entity;
        const project = str("name") ?? "";
        const runName = str("run") ?? "";
        const run = this.run(project, runName, entity);
        if (!run) return { model: { bucket: null } };
        const files = (v["files"] as string[]) ?? [];
        return {
          model: {
            bucket: {
              id: `run-${runName}`,
              files: {
                uploadHeaders: [`X-Upload-Token:${this.uploadToken}`],
                edges: files.map((name) => ({
                  node: { name, url: this.uploadUrl(`${entity}/${project}/${runName}/${name}`) },
                })),
              },
            },
          },
        };
      }
      case "CreateArtifact": {
        const entity = str("entityName") ?? this.entity;
        const project = str("projectName") ?? "";
        const collection = ((v["artifactCollectionNames"] as string[]) ?? [])[0] ?? "";
        const digest = str("digest") ?? "";
        let artifact = this.artifacts.find(
          (a) =>
            a.entity === entity &&
            a.project === project &&
            a.collection === collection &&
            a.digest === digest,
        );
        if (!artifact) {
          artifact = {
            id: this.nextId("artifact"),
            entity,
            project,
            run: str("runName"),
            type: str("artifactTypeName") ?? "",
            collection,
            digest,
            metadata: str("metadata") === null ? null : JSON.parse(str("metadata")!),
            aliases: v["aliases"],
            state: "PENDING",
            manifest: null,
            createCalls: 0,
          };
          this.artifacts.push(artifact);
        }
        artifact.createCalls++;
        return {
          createArtifact: {
            artifact: {
              id: artifact.id,
              digest: artifact.digest,
              state: artifact.state,
              aliases: [],
              artifactSequence: { id: collection, latestArtifact: null },
            },
          },
        };
      }
      case "CreateArtifactManifest": {
        const artifact = this.artifacts.find((a) => a.id === str("artifactID"));
        if (!artifact) throw new GraphQLFailure("CreateArtifactManifest: no such artifact");
        return {
          createArtifactManifest: {
            artifactManifest: {
              id: `manifest-${artifact.id}`,
              file: {
                id: `file-${artifact.id}`,
                name: "wandb_manifest.json",
                displayName: "wandb_manifest.json",
                uploadUrl: this.uploadUrl(`artifacts/${artifact.id}/wandb_manifest.json`),
                uploadHeaders: [`X-Upload-Token:${this.uploadToken}`],
              },
            },
          },
        };
      }
      case "CommitArtifact": {
        const artifact = this.artifacts.find((a) => a.id === str("artifactID"));
        if (!artifact) throw new GraphQLFailure("CommitArtifact: no such artifact");
        if (artifact.manifest === null)
          throw new GraphQLFailure("CommitArtifact: the manifest was not uploaded");
        artifact.state = "COMMITTED";
        return { commitArtifact: { artifact: { id: artifact.id, digest: artifact.digest } } };
      }
      case "UpsertSweep": {
        const sweep = this.createSweep({
          project: str("projectName") ?? "uncategorized",
          entity: str("entityName") ?? this.entity,
          config: str("config") ?? "",
        });
        const entity = sweep.entity;
        return {
          upsertSweep: {
            sweep: {
              name: sweep.id,
              project: {
                id: `project-${sweep.project}`,
                name: sweep.project,
                entity: { id: `entity-${entity}`, name: entity },
              },
            },
            configValidationWarnings: [],
          },
        };
      }
      case "Sweep":
      case "SweepWithRuns": {
        const sweep = this.sweeps.get(str("sweep") ?? "");
        const found = sweep && !sweep.deleted && sweep.project === str("project");
        return {
          project: {
            sweep: found
              ? {
                  id: `sweep-${sweep.id}`,
                  name: sweep.id,
                  state: sweep.state,
                  config: sweep.config,
                  method: null,
                }
              : null,
          },
        };
      }
      case "CreateAgent": {
        const sweep = this.sweeps.get(str("sweep") ?? "");
        if (!sweep || sweep.deleted) throw new GraphQLFailure(`CreateAgent: no sweep ${str("sweep")}`);
        const agent: FakeAgent = {
          id: this.nextId("agent"),
          sweep: sweep.id,
          host: str("host") ?? "",
          heartbeats: [],
          queued: [],
        };
        this.agents.set(agent.id, agent);
        return { createAgent: { agent: { id: agent.id } } };
      }
      case "Heartbeat": {
        const agent = this.agents.get(str("id") ?? "");
        if (!agent) throw new GraphQLFailure(`Heartbeat: no agent ${str("id")}`);
        const sweep = this.sweeps.get(agent.sweep)!;
        if (sweep.deleted) throw new HttpFailure(404, "sweep not found");
        const runState = JSON.parse(str("runState") ?? "{}") as Record<string, boolean>;
        agent.heartbeats.push(runState);
        return {
          agentHeartbeat: {
            agent: { id: agent.id },
            commands: JSON.stringify(this.commandsFor(agent, sweep, runState)),
          },
        };
      }
      default:
        throw new GraphQLFailure(`fake W&B: unknown operation ${op}`);
    }
  }

  /** The toy controller: queued commands first, then the next planned trial for an idle agent. */
  private commandsFor(agent: FakeAgent, sweep: FakeSweep, runState: Record<string, boolean>): FakeCommand[] {
    if (agent.queued.length > 0) return agent.queued.splice(0);
    const idle = !Object.values(runState).some((alive) => alive);
    if (!idle || sweep.state !== "RUNNING") return [];
    const params = sweep.plan[sweep.issued.length];
    if (params === undefined) return [{ type: "exit" }];
    const runId = `trial${sweep.issued.length}${this.nextId("r")}`;
    sweep.issued.push({ runId, agentId: agent.id, params });
    const args: Record<string, { value: unknown }> = {};
    for (const [key, value] of Object.entries(params)) args[key] = { value };
    const program = (parse(sweep.config) as { program?: unknown } | null)?.program;
    return [{ type: "run", run_id: runId, args, ...(typeof program === "string" && { program }) }];
  }
}
