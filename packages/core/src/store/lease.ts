/**
 * The publication lease: the body of the `.lethe-publishing` marker and how to read its age. No AWS SDK here,
 * so that checkpoint readers can describe a lease without loading it.
 *
 * A writer holds the lease while it renews it (rewrites the marker) within `leaseMs`; a lease not renewed for
 * longer is stale and the next writer may take it over. Ages are measured on the S3 server's clock (the
 * marker's Last-Modified against the Date of the response that read it), so writers on machines with skewed
 * clocks still agree; the times written into the body are the writer's own, for people to read.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

export const LEASE_FORMAT = "lethe.publishing-lease";
/** A lease not renewed for this long is stale (overridable with LETHE_S3_LEASE_SECONDS). */
export const DEFAULT_LEASE_MS = 5 * 60_000;

export interface LeaseOwner {
  host: string;
  pid: number;
  /** Random per publication: tells two publications of one process apart. */
  token: string;
}

export interface LeaseRecord {
  format: typeof LEASE_FORMAT;
  version: 1;
  owner: LeaseOwner;
  /** What holds it: "publish" or "cleanup". */
  purpose: string;
  started: string;
  heartbeat: string;
  /** Bumped on every renewal, so that each rewrite of the marker has a new ETag. */
  renewals: number;
  /** The holder promises to renew within this; a reader treats it as stale after it. */
  leaseMs: number;
}

/** A lease as a reader finds it. */
export interface LeaseState {
  /** null when the marker is not a lease (an older Lethe, or unreadable): only its age is known. */
  record: LeaseRecord | null;
  /** When the marker was last written, on the server's clock. */
  renewedAt: Date;
  /** Time since then, on the server's clock. */
  ageMs: number;
  leaseMs: number;
  stale: boolean;
}

export function newLease(leaseMs: number, purpose = "publish"): LeaseRecord {
  const now = new Date().toISOString();
  return {
    format: LEASE_FORMAT,
    version: 1,
    owner: { host: hostname(), pid: process.pid, token: randomBytes(8).toString("hex") },
    purpose,
    started: now,
    heartbeat: now,
    renewals: 0,
    leaseMs,
  };
}

export function renewed(record: LeaseRecord): LeaseRecord {
  return { ...record, heartbeat: new Date().toISOString(), renewals: record.renewals + 1 };
}

export function encodeLease(record: LeaseRecord): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(record)}\n`);
}

/** The lease in a marker body, or null for anything else (a marker from before leases, garbage). */
export function parseLease(bytes: Uint8Array): LeaseRecord | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LeaseRecord> | null;
    if (value?.format !== LEASE_FORMAT || typeof value.owner?.token !== "string") return null;
    if (typeof value.leaseMs !== "number" || !(value.leaseMs > 0)) return null;
    return value as LeaseRecord;
  } catch {
    return null;
  }
}

/** Reads a lease's age from the marker's Last-Modified and the server's Date (local time if it sent none). */
export function leaseState(
  record: LeaseRecord | null,
  renewedAt: Date,
  serverNow: Date | undefined,
  fallbackLeaseMs: number,
): LeaseState {
  const ageMs = Math.max(0, (serverNow ?? new Date()).getTime() - renewedAt.getTime());
  const leaseMs = record?.leaseMs ?? fallbackLeaseMs;
  return { record, renewedAt, ageMs, leaseMs, stale: ageMs > leaseMs };
}

export function leaseMsFromEnv(): number {
  const seconds = Number.parseFloat(process.env.LETHE_S3_LEASE_SECONDS ?? "");
  return seconds > 0 ? Math.round(seconds * 1000) : DEFAULT_LEASE_MS;
}

/** "host h pid 12 (token 1a2b3c4d…)" */
export function describeOwner(record: LeaseRecord | null): string {
  if (!record) return "an unknown writer (a marker without a lease)";
  const { host, pid, token } = record.owner;
  return `host ${host} pid ${pid} (${record.purpose}, token ${token.slice(0, 8)})`;
}

/** "4m12s", "under 1s" (the server's clocks count whole seconds) */
export function formatAge(ms: number): string {
  if (ms < 1000) return "under 1s";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, "0")}m`;
}

/** "another writer is active at URI: …" or "a writer crashed at URI: … stale since …" */
export function describeLease(uri: string, state: LeaseState): string {
  const owner = describeOwner(state.record);
  const started = state.record ? `, started ${state.record.started}` : "";
  if (!state.stale) {
    return (
      `another writer is active at ${uri}: ${owner}${started}, lease renewed ${formatAge(state.ageMs)} ago ` +
      `(stale after ${formatAge(state.leaseMs)} without renewal)`
    );
  }
  const staleSince = new Date(state.renewedAt.getTime() + state.leaseMs).toISOString();
  return (
    `a writer crashed at ${uri}: ${owner}${started} stopped renewing its lease ${formatAge(state.ageMs)} ago ` +
    `(stale since ${staleSince})`
  );
}
