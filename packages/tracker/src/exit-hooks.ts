/**
 * Process-exit safety for runs that were not finished explicitly:
 * - the event loop runs dry (the script simply ended): finish with process.exitCode (0 by default);
 * - an uncaught exception or unhandled rejection: print it as Node would, finish with exit code 1, exit 1;
 * - SIGINT / SIGTERM: finish with 128+signal (130 / 143), then die by the same signal;
 * - process.exit() or anything else that reaches 'exit': only synchronous work is possible there, so the
 *   run directory is closed with the exit code and pending uploads are left for `lethe-track sync`.
 * Crash and signal handling only act when no other listener is installed for that event, so a program
 * with its own handlers keeps its behaviour. All listeners are removed once no run is active.
 */
export interface ExitAware {
  finish(exitCode: number): Promise<void>;
  finishSync(exitCode: number): void;
}

const active = new Set<ExitAware>();
let installed = false;
let exiting = false;

const SIGNAL_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof SIGNAL_CODES;

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

function onSignal(signal: HandledSignal): void {
  if (process.listenerCount(signal) > 1) return;
  if (exiting) {
    // A second signal while finishing: stop waiting.
    for (const run of [...active]) run.finishSync(SIGNAL_CODES[signal]);
    active.clear();
    reraise(signal);
    return;
  }
  exiting = true;
  void finishAll(SIGNAL_CODES[signal]).then(() => reraise(signal));
}

function reraise(signal: HandledSignal): void {
  uninstall();
  process.kill(process.pid, signal);
}

const sigint = (): void => onSignal("SIGINT");
const sigterm = (): void => onSignal("SIGTERM");

function install(): void {
  if (installed) return;
  installed = true;
  process.on("beforeExit", onBeforeExit);
  process.on("exit", onExit);
  process.on("uncaughtException", onUncaught);
  process.on("SIGINT", sigint);
  process.on("SIGTERM", sigterm);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("beforeExit", onBeforeExit);
  process.off("exit", onExit);
  process.off("uncaughtException", onUncaught);
  process.off("SIGINT", sigint);
  process.off("SIGTERM", sigterm);
}

export function watchForExit(run: ExitAware): void {
  active.add(run);
  install();
}

export function unwatchForExit(run: ExitAware): void {
  active.delete(run);
  if (active.size === 0 && !exiting) uninstall();
}
