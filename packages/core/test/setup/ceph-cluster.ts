/**
 * A throwaway single-node Ceph cluster serving S3 on loopback: one monitor, one OSD on memstore (objects live
 * in memory only) and one radosgw, in a fresh temporary directory, on ports chosen at run time so that
 * concurrent runs do not collide. The recipe is /work/shared/docs/s3-test-server.md §2, with the daemons run
 * in the foreground as our own children so that we know their pids and notice when one dies.
 * Shared by the vitest global setup and the core-io benchmark.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import * as fs from "node:fs/promises";
import { createServer } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const CEPH_BINARIES = [
  "ceph-mon",
  "ceph-osd",
  "radosgw",
  "ceph",
  "monmaptool",
  "radosgw-admin",
] as const;

export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface CephCluster extends S3Endpoint {
  /** The scratch directory: config, monitor store, logs. Removed by `stop()`. */
  readonly dir: string;
  stop(): Promise<void>;
}

export interface CephClusterOptions {
  /** Capacity of the in-memory OSD. Objects beyond ~95% of it are refused. */
  memstoreBytes?: number;
  /** How long to wait for radosgw to answer before giving up. */
  readyTimeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

const ACCESS_KEY = "LETHETESTKEY";
const SECRET_KEY = "LETHETESTSECRET";
const COMMAND_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 3_000;

/** The Ceph programs that are not on PATH (empty when the cluster can be started). */
export function missingCephBinaries(): string[] {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  return CEPH_BINARIES.filter(
    (bin) =>
      !dirs.some((dir) => {
        try {
          accessSync(path.join(dir, bin), fsConstants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

/** Ceph's start-up has had timing races before; one fresh retry keeps a slow or fast CI machine from failing. */
const START_ATTEMPTS = 2;

export async function startCephCluster(options: CephClusterOptions = {}): Promise<CephCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startCephClusterOnce(options);
    } catch (err) {
      if (attempt >= START_ATTEMPTS) throw err;
      const first = (err instanceof Error ? err.message : String(err)).split("\n")[0];
      (options.log ?? console.warn)(`ceph: start-up attempt ${attempt} failed (${first}); retrying`);
    }
  }
}

async function startCephClusterOnce(options: CephClusterOptions): Promise<CephCluster> {
  const memstore = options.memstoreBytes ?? 2 ** 30;
  if (!Number.isSafeInteger(memstore) || memstore < 2 ** 28) {
    throw new Error(`memstoreBytes must be an integer of at least 256 MiB, got ${memstore}`);
  }
  const log = options.log ?? (() => {});
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lethe-ceph-"));
  const daemons = new Daemons(dir);
  // Should this process exit without stop() (a crash, process.exit), take the daemons and files along.
  const onExit = () => {
    daemons.killNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  try {
    const endpoint = await bootstrap(dir, daemons, options, log);
    return {
      ...endpoint,
      dir,
      async stop() {
        process.removeListener("exit", onExit);
        await daemons.stopAll();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.removeListener("exit", onExit);
    await daemons.stopAll();
    const logs = collectLogs(dir);
    await fs.rm(dir, { recursive: true, force: true });
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`could not start the Ceph test cluster: ${message}\n${logs}`, { cause: err });
  }
}

async function bootstrap(
  dir: string,
  daemons: Daemons,
  options: CephClusterOptions,
  log: (line: string) => void,
): Promise<S3Endpoint> {
  const started = Date.now();
  const monPort = await freePort();
  const rgwPort = await freePort();
  for (const sub of ["mon", "osd0", "run", "log"]) await fs.mkdir(path.join(dir, sub));
  const fsid = randomUUID();
  const conf = path.join(dir, "ceph.conf");
  await fs.writeFile(conf, cephConf(dir, fsid, monPort, rgwPort, options.memstoreBytes ?? 2 ** 30));
  const ceph = (bin: string, ...args: string[]) => run(bin, ["-c", conf, ...args]);

  await run("monmaptool", [
    "--create",
    "--addv",
    "a",
    `v1:127.0.0.1:${monPort}`,
    "--fsid",
    fsid,
    path.join(dir, "monmap"),
  ]);
  await ceph("ceph-mon", "--mkfs", "-i", "a", "--monmap", path.join(dir, "monmap"));
  daemons.start("ceph-mon", ["-c", conf, "-f", "-i", "a"]);
  log(`ceph: monitor on 127.0.0.1:${monPort}`);

  const osdUuid = randomUUID();
  const osdId = (await ceph("ceph", "--connect-timeout", "30", "osd", "new", osdUuid)).trim();
  if (osdId !== "0") throw new Error(`expected "ceph osd new" to allocate osd 0, got "${osdId}"`);
  await ceph("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osdUuid);
  daemons.start("ceph-osd", ["-c", conf, "-f", "-i", "0"]);
  await ceph("ceph", "osd", "crush", "add", "osd.0", "1.0", "host=localhost", "root=default");
  log("ceph: osd.0 up");

  daemons.start("radosgw", ["-c", conf, "-f", "-n", "client.rgw.a"]);
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  await waitUntilServing(endpoint, daemons, options.readyTimeoutMs ?? 60_000);
  await ceph(
    "radosgw-admin",
    "user",
    "create",
    "--uid=lethe-test",
    "--display-name=lethe test",
    `--access-key=${ACCESS_KEY}`,
    `--secret=${SECRET_KEY}`,
  );
  log(`ceph: radosgw serving ${endpoint} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  return { endpoint, region: "us-east-1", accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
}

function cephConf(
  dir: string,
  fsid: string,
  monPort: number,
  rgwPort: number,
  memstoreBytes: number,
): string {
  // `$name` is expanded by Ceph itself (mon.a, osd.0, client.rgw.a): one log, socket and pid file per daemon.
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon allow pool size one = true
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd crush chooseleaf type = 0
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd0
# On start the OSD asks the monitor to set its device class and crush location. On a fast machine that request
# can leave before its monitor client has the monmap, carrying fsid 0, and the monitor's "wrong fsid" refusal
# makes the OSD exit. We place osd.0 in the crush map ourselves ("osd crush add" below), so skip both.
osd class update on start = false
osd crush update on start = false
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
# Free the space of deleted and overwritten objects within seconds (default: hours), so that a long run
# (the benchmark) does not fill the in-memory OSD.
rgw gc obj min wait = 0
rgw gc processor period = 5
`;
}

/** The daemons we started, as our own children. */
class Daemons {
  private readonly children: { name: string; child: ChildProcess; exited: boolean }[] = [];

  constructor(private readonly dir: string) {}

  start(bin: string, args: string[]): void {
    const out = openSync(path.join(this.dir, "log", `${bin}.out`), "a");
    const child = spawn(bin, args, { stdio: ["ignore", out, out] });
    closeSync(out);
    const entry = { name: bin, child, exited: false };
    child.on("exit", () => {
      entry.exited = true;
    });
    child.on("error", () => {
      entry.exited = true;
    });
    this.children.push(entry);
  }

  /** The first daemon that is no longer running, with its exit status. */
  dead(): string | null {
    const d = this.children.find((c) => c.exited);
    if (!d) return null;
    return `${d.name} exited (code ${d.child.exitCode}, signal ${d.child.signalCode})`;
  }

  /** radosgw, then the OSD, then the monitor; whatever ignores SIGTERM for a moment is killed. */
  async stopAll(): Promise<void> {
    for (const c of [...this.children].reverse()) {
      if (c.exited) continue;
      const exited = new Promise<void>((resolve) => c.child.once("exit", () => resolve()));
      c.child.kill("SIGTERM");
      const timer = setTimeout(() => c.child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
  }

  killNow(): void {
    for (const c of this.children) if (!c.exited) c.child.kill("SIGKILL");
  }
}

async function waitUntilServing(endpoint: string, daemons: Daemons, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = daemons.dead();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`radosgw did not answer on ${endpoint} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: COMMAND_TIMEOUT_MS, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A TCP port that was free a moment ago (the daemon binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** The tail of every daemon log, for the error message when the cluster does not come up. */
function collectLogs(dir: string): string {
  const logDir = path.join(dir, "log");
  let names: string[];
  try {
    names = readdirSync(logDir).sort();
  } catch {
    return "(no logs)";
  }
  return names
    .map((name) => {
      const text = readFileSync(path.join(logDir, name), "utf8");
      const tail = text.split("\n").slice(-40).join("\n");
      return `----- ${name} (last 40 lines) -----\n${tail}`;
    })
    .join("\n");
}
