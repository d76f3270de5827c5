/**
 * Process-exit safety for runs that were not finished explicitly:
 * - the event loop runs dry (the script simply ended): finish with process.exitCode (0 by default);
 * - an uncaught exception or unhandled rejection: print it as Node would, finish with exit code 1, exit 1;
 * - SIGINT / SIGTERM: finish with 128+signal (130 / 143), then die by the same signal (through core's
 *   `onInterrupt`, the one owner of those signals, so staging cleanup and run closing share one handler);
 * - process.exit() or anything else that reaches 'exit': only synchronous work is possible there, so the
 *   run directory is closed with the exit code and pending uploads are left for `lethe-track sync`.
 * Crash and signal handling only act when no other listener is installed for that event, so a program
 * with its own handlers keeps its behaviour. All listeners are removed once no run is active.
 */
import { type InterruptSignal, onInterrupt } from "@lethe/core";

export interface ExitAware {
  finish(exitCode: number): Promise<void>;
  finishSync(exitCode: number): void;
}

const active = new Set<ExitAware>();
let installed = false;
let exiting = false;

const SIGNAL_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
let stopInterrupt: (() => void) | null = null;

function finishAll(exitCode: number): Promise<unknown> {
  return Promise.allSettled([...active].map((run) => run.finish(exitCode)));
}

function onBeforeExit(): void {
  if (active.size === 0 || exiting) return;
  const code = typeof process.exitCode === "number" ? process.exitCode : 0;
  void finishAll(code);
}

function onExit(code: number): void {
  for (const run of [...active]) run.finishSync(code);
  active.clear();
}

function onUncaught(err: unknown): void {
  if (process.listenerCount("uncaughtException") > 1 || exiting) return;
  exiting = true;
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : `Uncaught ${String(err)}`}\n`);
  void finishAll(1).then(() => process.exit(1));
}

const interruptHandler = {
  settle(signal: InterruptSignal): Promise<unknown> {
    exiting = true;
    return finishAll(SIGNAL_CODES[signal]);
  },
  now(signal: InterruptSignal, final: boolean): void {
    if (!final) return;
    // Dying (finished, timed out or a second signal): close what did not finish in time.
    for (const run of [...active]) run.finishSync(SIGNAL_CODES[signal]);
    active.clear();
    uninstall();
  },
};

function install(): void {
  if (installed) return;
  installed = true;
  process.on("beforeExit", onBeforeExit);
  process.on("exit", onExit);
  process.on("uncaughtException", onUncaught);
  stopInterrupt = onInterrupt(interruptHandler);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("beforeExit", onBeforeExit);
  process.off("exit", onExit);
  process.off("uncaughtException", onUncaught);
  stopInterrupt?.();
  stopInterrupt = null;
}

export function watchForExit(run: ExitAware): void {
  active.add(run);
  install();
}

export function unwatchForExit(run: ExitAware): void {
  active.delete(run);
  if (active.size === 0 && !exiting) uninstall();
}
