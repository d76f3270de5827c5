/**
 * The dashboard's HTTP server: node:http on 127.0.0.1 only, a JSON API over a runs directory, and the page.
 *
 * Assets: the page (index.html, app.js, app.css) is read from `src/dashboard/public/` under the package
 * root, found by walking up from this module to the nearest package.json, so the same path works when
 * running from source (src/dashboard/server.ts) and from the build (dist/dashboard/server.js). uPlot's
 * ESM build and CSS are served from its installed package. Nothing is fetched from a CDN.
 *
 * Requests whose Host header is not this server's loopback address are refused (DNS rebinding).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { errorMessage } from "@lethe/core";
import { historyColumns, runDetail, runSummaries, sweepViews, tableData } from "./data.js";
import { buildLineage } from "./lineage.js";

export const HOST = "127.0.0.1";

export interface DashboardOptions {
  runsDir: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface Dashboard {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** The package root: the nearest directory above this module holding a package.json. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

export function publicDir(): string {
  return join(packageRoot(), "src", "dashboard", "public");
}

function uplotFile(name: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("uplot/package.json")), "dist", name);
}

interface Asset {
  path: () => string;
  type: string;
}

const ASSETS: Record<string, Asset> = {
  "/": { path: () => join(publicDir(), "index.html"), type: "text/html; charset=utf-8" },
  "/assets/app.js": { path: () => join(publicDir(), "app.js"), type: "text/javascript; charset=utf-8" },
  "/assets/charts.js": { path: () => join(publicDir(), "charts.js"), type: "text/javascript; charset=utf-8" },
  "/assets/app.css": { path: () => join(publicDir(), "app.css"), type: "text/css; charset=utf-8" },
  "/assets/uplot.esm.js": { path: () => uplotFile("uPlot.esm.js"), type: "text/javascript; charset=utf-8" },
  "/assets/uplot.min.css": { path: () => uplotFile("uPlot.min.css"), type: "text/css; charset=utf-8" },
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    "content-type": type,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value));
}

async function route(
  runsDir: string,
  req: IncomingMessage,
  res: ServerResponse,
  port: number,
): Promise<void> {
  const host = req.headers.host ?? "";
  if (host !== `${HOST}:${port}` && host !== `localhost:${port}`) {
    send(res, 403, "text/plain; charset=utf-8", "forbidden host\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
    return;
  }
  const url = new URL(req.url ?? "/", `http://${HOST}`);
  const path = url.pathname;
  const asset = ASSETS[path];
  if (asset) {
    send(res, 200, asset.type, await readFile(asset.path()));
    return;
  }
  const parts = path
    .split("/")
    .filter((p) => p.length > 0)
    .map(decodeURIComponent);
  if (parts[0] !== "api") {
    send(res, 404, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  const notFound = () => sendJson(res, 404, { error: `nothing at ${path}` });
  if (parts.length === 2 && parts[1] === "runs")
    return sendJson(res, 200, { runs: await runSummaries(runsDir) });
  if (parts.length === 2 && parts[1] === "sweeps")
    return sendJson(res, 200, { sweeps: await sweepViews(runsDir) });
  if (parts.length === 2 && parts[1] === "lineage") return sendJson(res, 200, await buildLineage(runsDir));
  if (parts[1] === "runs" && parts[2] !== undefined) {
    const id = parts[2];
    if (parts.length === 3) {
      const detail = await runDetail(runsDir, id);
      return detail ? sendJson(res, 200, detail) : notFound();
    }
    if (parts.length === 4 && parts[3] === "history") {
      const keys = (url.searchParams.get("keys") ?? "").split(",").filter((k) => k.length > 0);
      const columns = await historyColumns(runsDir, id, keys);
      return columns ? sendJson(res, 200, columns) : notFound();
    }
    if (parts.length === 5 && parts[3] === "tables") {
      const table = await tableData(runsDir, id, parts[4]!);
      return table ? sendJson(res, 200, table) : notFound();
    }
  }
  notFound();
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  let port = options.port ?? 0;
  const server = createServer((req, res) => {
    route(options.runsDir, req, res, port).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: errorMessage(err) });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${HOST}:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
