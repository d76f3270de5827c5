import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

// One config for every package. Tests import workspace packages from their TypeScript sources
// (the "lethe-source" export condition), so `vitest` needs no build; CLI tests spawn the built bins.
export default defineConfig({
  resolve: { conditions: ["lethe-source"] },
  ssr: { resolve: { conditions: ["lethe-source"], externalConditions: ["lethe-source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    globalSetup: ["packages/core/test/setup/global-s3.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Every stage records a tracker run by default: keep the runs of tests that do not choose a directory
    // out of the working tree.
    env: { LETHE_RUNS_DIR: process.env["LETHE_RUNS_DIR"] ?? join(tmpdir(), "lethe-test-runs") },
    // The JSON report is what .ci/run counts; the default reporter is what people read.
    reporters: ["default", ["json", { outputFile: ".tmp/vitest-report.json" }]],
  },
});
