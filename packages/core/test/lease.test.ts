/** The lease record and its age, without a server. */
import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/cli/duration.js";
import {
  DEFAULT_LEASE_MS,
  describeLease,
  encodeLease,
  formatAge,
  leaseState,
  newLease,
  parseLease,
  renewed,
} from "../src/store/lease.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("publication lease", () => {
  it("round-trips, and every renewal changes the body (so the ETag changes)", () => {
    const lease = newLease(2000);
    expect(lease.owner.pid).toBe(process.pid);
    expect(lease.owner.token).toMatch(/^[0-9a-f]{16}$/);
    expect(parseLease(encodeLease(lease))).toEqual(lease);
    const next = renewed(lease);
    expect(next.renewals).toBe(1);
    expect(Buffer.from(encodeLease(next)).equals(Buffer.from(encodeLease(lease)))).toBe(false);
  });

  it("does not take a marker from before leases, or garbage, for a lease", () => {
    const old = JSON.stringify({ writer: "x", host: "h", pid: 1, since: "2026-01-01T00:00:00Z" });
    expect(parseLease(enc(old))).toBeNull();
    expect(parseLease(enc("not json"))).toBeNull();
    expect(
      parseLease(enc('{"format":"lethe.publishing-lease","owner":{"token":"t"},"leaseMs":-1}')),
    ).toBeNull();
  });

  it("measures age on the server's clock and judges it by the lease's own time", () => {
    const lease = newLease(60_000);
    const renewedAt = new Date("2026-01-01T00:00:00Z");
    const live = leaseState(lease, renewedAt, new Date("2026-01-01T00:00:59Z"), DEFAULT_LEASE_MS);
    expect(live).toMatchObject({ ageMs: 59_000, leaseMs: 60_000, stale: false });
    const stale = leaseState(lease, renewedAt, new Date("2026-01-01T00:03:00Z"), DEFAULT_LEASE_MS);
    expect(stale).toMatchObject({ ageMs: 180_000, stale: true });
    // Without a lease (an older marker) the reader's own lease time applies.
    expect(leaseState(null, renewedAt, new Date("2026-01-01T00:04:00Z"), DEFAULT_LEASE_MS).stale).toBe(false);

    expect(describeLease("s3://b/p", live)).toMatch(
      /^another writer is active at s3:\/\/b\/p: host \S+ pid \d+ \(publish, token [0-9a-f]{8}\), started \S+, lease renewed 59s ago \(stale after 1m00s without renewal\)$/,
    );
    expect(describeLease("s3://b/p", stale)).toMatch(
      /^a writer crashed at s3:\/\/b\/p: .* stopped renewing its lease 3m00s ago \(stale since 2026-01-01T00:01:00\.000Z\)$/,
    );
  });

  it("formats ages and parses --older-than", () => {
    expect([formatAge(400), formatAge(59_999), formatAge(61_000), formatAge(7_260_000)]).toEqual([
      "under 1s",
      "59s",
      "1m01s",
      "2h01m",
    ]);
    expect(["90s", "30m", "1h", "2d", "500ms", "0", "1.5h"].map(parseDuration)).toEqual([
      90_000, 1_800_000, 3_600_000, 172_800_000, 500, 0, 5_400_000,
    ]);
    expect(parseDuration("soon")).toBeNull();
  });
});
