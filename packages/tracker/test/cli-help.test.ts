import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runBin } from "../../core/test/helpers/cli.js";

const README = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "README.md"),
  "utf8",
);

describe("lethe-track --help", () => {
  it("works on every subcommand, and sync/agent list every flag the README documents", async () => {
    for (const command of ["sync", "agent", "sweep", "dashboard"]) {
      const r = await runBin("tracker", "lethe-track", [command, "--help"]);
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`lethe-track ${command}`);
      if (command === "sync" || command === "agent") {
        const line = README.split("\n").find((l) => l.startsWith(`lethe-track ${command} `))!;
        for (const flag of line.match(/--[a-z-]+/g)!) expect(r.stdout).toContain(flag);
      }
    }
  });
});
