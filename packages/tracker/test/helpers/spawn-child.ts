/** Start test/helpers/child-run.ts (TypeScript through tsx, workspace packages from source) and watch its output. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const CHILD_RUN = fileURLToPath(new URL("./child-run.ts", import.meta.url));
/** node flags that run a workspace TypeScript file the way vitest resolves it. */
export const TS_NODE_FLAGS = ["--conditions=lethe-source", "--import", "tsx"];

export interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stdout contains `text`; rejects if the process exits first. */
  waitFor: (text: string) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnTs(script: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [...TS_NODE_FLAGS, script, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.filter((w) => out.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // "close", not "exit": stdout and stderr may still hold unread output when the process has exited.
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (text) =>
      out.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ text, resolve });
            void exited.then(() =>
              reject(
                new Error(
                  `child exited before printing ${JSON.stringify(text)}\nstdout: ${out}\nstderr: ${err}`,
                ),
              ),
            );
          }),
  };
}

export function childRun(args: string[], env: NodeJS.ProcessEnv): Child {
  return spawnTs(CHILD_RUN, args, env);
}

/** The run directory the child printed ("run <id> <dir>"). */
export function runDirOf(child: Child): string {
  const match = /^run (\S+) (\S+)$/m.exec(child.stdout());
  if (!match) throw new Error(`no run line in ${child.stdout()}`);
  return match[2]!;
}
