/**
 * vitest global setup: an S3 server for the tests of the s3:// store, provided as `inject("s3")`.
 *
 * - LETHE_TEST_S3_ENDPOINT set: use that running server (credentials from LETHE_TEST_S3_ACCESS_KEY_ID /
 *   LETHE_TEST_S3_SECRET_ACCESS_KEY, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; LETHE_TEST_S3_REGION).
 * - LETHE_TEST_S3=off outside CI: no server, `inject("s3")` is null and the S3 tests are skipped.
 * - otherwise: a throwaway in-memory Ceph cluster (ceph-cluster.ts), stopped and removed at teardown.
 *   Without the Ceph binaries the tests are skipped with a warning, except in CI (CI=true), where that is
 *   an error: the S3 tests must run there.
 */
import type { TestProject } from "vitest/node";
import { missingCephBinaries, startCephCluster } from "./ceph-cluster.js";

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const env = process.env;
  const ci = ["true", "1"].includes((env.CI ?? "").toLowerCase());

  if (env.LETHE_TEST_S3_ENDPOINT) {
    const accessKeyId = env.LETHE_TEST_S3_ACCESS_KEY_ID ?? env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.LETHE_TEST_S3_SECRET_ACCESS_KEY ?? env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error(
        "LETHE_TEST_S3_ENDPOINT is set but no credentials: set LETHE_TEST_S3_ACCESS_KEY_ID and LETHE_TEST_S3_SECRET_ACCESS_KEY",
      );
    }
    project.provide("s3", {
      endpoint: env.LETHE_TEST_S3_ENDPOINT,
      region: env.LETHE_TEST_S3_REGION ?? "us-east-1",
      accessKeyId,
      secretAccessKey,
    });
    return undefined;
  }

  if (env.LETHE_TEST_S3 === "off" && !ci) {
    project.provide("s3", null);
    return undefined;
  }

  const missing = missingCephBinaries();
  if (missing.length > 0) {
    const what = `the S3 tests need Ceph (radosgw, ceph-mon, ceph-osd, ceph-mgr) but ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not on PATH`;
    if (ci)
      throw new Error(`${what}; install it with: apt-get install -y radosgw ceph-mon ceph-osd ceph-mgr`);
    console.warn(`[lethe] ${what}: skipping them (set LETHE_TEST_S3=off to silence this)`);
    project.provide("s3", null);
    return undefined;
  }

  const cluster = await startCephCluster({ log: (line) => console.log(`[lethe] ${line}`) });
  const { endpoint, region, accessKeyId, secretAccessKey } = cluster;
  project.provide("s3", { endpoint, region, accessKeyId, secretAccessKey });
  return () => cluster.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string } | null;
  }
}
