import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { CheckpointWriter } from "../src/checkpoint/writer.js";
import { ConflictError } from "../src/errors.js";
import { FileStore } from "../src/store/file.js";
import { writeTinyCheckpoint } from "./helpers/checkpoint.js";
import { binPath, REPO_ROOT } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("staging");
const staging = (dir: string) => readdirSync(dir).filter((n) => n.includes(".lethe-staging-"));

/** A pid that is not running: a child that has already exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    child.on("error", reject);
    child.on("close", () => resolve(child.pid!));
  });
}

/** A fresh directory under the test root, and the built core package's URL for a child script to import. */
function childSetup(name: string): { dir: string; core: string } {
  binPath("core", "lethe-ckpt"); // the child imports the built package
  const dir = path.join(root, name);
  mkdirSync(dir);
  return { dir, core: pathToFileURL(path.join(REPO_ROOT, "packages", "core", "dist", "index.js")).href };
}

describe("file staging", () => {
  it("a publication removes staging left by a dead process, and keeps staging of a live one", async () => {
    const parent = path.join(root, "stale");
    mkdirSync(parent);
    const dead = path.join(parent, `.out.lethe-staging-p${await deadPid()}-aaaaaaaaaaaa`);
    const live = path.join(parent, `.out.lethe-staging-p${process.pid}-bbbbbbbbbbbb`);
    const other = path.join(parent, ".other.lethe-staging-p1-cccccccccccc");
    for (const dir of [dead, live, other]) {
      mkdirSync(dir);
      writeFileSync(path.join(dir, "model-00001-of-00002.safetensors"), "partial");
    }
    await writeTinyCheckpoint(path.join(parent, "out"));
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true); // another destination's staging is not ours to judge
    expect(existsSync(path.join(parent, "out", "lethe.json"))).toBe(true);
  });

  it("an output whose parent is a file gets a message naming that file", async () => {
    const file = path.join(root, "plain-file");
    writeFileSync(file, "x");
    const err = await CheckpointWriter.begin(path.join(file, "sub", "ckpt"), { stage: "test" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toBe(
      `${path.join(file, "sub", "ckpt")}: cannot create its parent directory: ${file} is a file, not a directory`,
    );
  });

  it("writes into staging never recreate a staging directory that was removed (as an interrupt removes it)", async () => {
    const parent = path.join(root, "removed");
    const staged = await new FileStore(path.join(parent, "out")).beginStaging();
    await staged.store.put("nested/kept.bin", new Uint8Array(4));
    const [name] = staging(parent);
    rmSync(path.join(parent, name!), { recursive: true });

    await expect(staged.store.put("nested/deeper/a.bin", new Uint8Array(4))).rejects.toThrow(
      `${path.join(parent, name!)}: the staging directory is gone (removed on interrupt?); cannot write ${path.join(parent, name!, "nested")}`,
    );
    await expect(staged.store.put("b.bin", new Uint8Array(4))).rejects.toThrow(/ENOENT/);
    await expect(staged.store.createWriter("c/d.bin").write(new Uint8Array(4))).rejects.toThrow(
      /the staging directory is gone/,
    );
    await expect(staged.commit("lethe.json", new Uint8Array(2))).rejects.toThrow(/ENOENT/);
    expect(readdirSync(parent)).toEqual([]);
  });

  it("SIGTERM while staging removes the staging directory and the process dies by the signal", async () => {
    const { dir, core } = childSetup("signal");
    const script = `
      const { CheckpointWriter } = await import(${JSON.stringify(core)});
      const writer = await CheckpointWriter.begin(${JSON.stringify(path.join(dir, "out"))}, { stage: "t" });
      await writer.putBytes("model.safetensors", new Uint8Array(1000));
      const sink = writer.store.createWriter("model-2.safetensors");
      await sink.write(new Uint8Array(10));
      process.stdout.write("staged\\n");
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
    expect(staging(dir)).toHaveLength(1);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
      child.on("close", (c, s) => resolve([c, s]));
      child.kill("SIGTERM");
    });
    expect(signal ?? code).toBe(signal === null ? 143 : "SIGTERM");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("SIGTERM handled right after the staging directory is made, before its creator continues, removes it", async () => {
    const { dir, core } = childSetup("signal-in-mkdir");
    // The child's mkdir signals its own process once the staging directory exists and waits for the handler
    // to run: the moment a signal lands between the directory appearing and the code that made it going on.
    const script = `
      const fsp = (await import("node:fs/promises")).default;
      const { syncBuiltinESMExports } = await import("node:module");
      const mkdir = fsp.mkdir;
      fsp.mkdir = async (dir, options) => {
        const made = await mkdir(dir, options);
        if (String(dir).includes(".lethe-staging-")) {
          process.kill(process.pid, "SIGTERM");
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
        return made;
      };
      syncBuiltinESMExports();
      const { CheckpointWriter } = await import(${JSON.stringify(core)});
      await CheckpointWriter.begin(${JSON.stringify(path.join(dir, "out"))}, { stage: "t" });
      process.stdout.write("survived\\n");`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on("close", (c, s) => resolve([c, s])),
    );
    expect(stdout).toBe("");
    expect(signal ?? code).toBe(signal === null ? 143 : "SIGTERM");
    expect(readdirSync(dir)).toEqual([]);
  });
});
