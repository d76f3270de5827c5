/**
 * One owner for SIGINT/SIGTERM, shared by every stage: a staging directory, a temporary file and a tracker
 * run each register what must happen when the process is interrupted, and the handler does all of it, then
 * lets the process die by the same signal (exit status 130/143, as an unhandled signal would give).
 *
 * - `now` runs synchronously in the signal handler, before any other JavaScript can touch the files again,
 *   and a second time just before the process dies (`final`), in case work still in flight recreated them;
 * - `settle` (async: closing a tracker run) is awaited, for at most `LETHE_INTERRUPT_TIMEOUT_MS` (10 s);
 * - a second signal while settling stops waiting.
 *
 * The handler is installed only while something is registered, and does nothing when the program has its
 * own listener for the signal (that program decides when to exit, so its staging stays in use).
 */
export type InterruptSignal = "SIGINT" | "SIGTERM";

export interface InterruptHandler {
  now?(signal: InterruptSignal, final: boolean): void;
  settle?(signal: InterruptSignal): Promise<unknown>;
}

const handlers = new Set<InterruptHandler>();
let installed = false;
let interrupted = false;

/** Register cleanup for SIGINT/SIGTERM; call the returned function once it is no longer needed. */
export function onInterrupt(handler: InterruptHandler): () => void {
  handlers.add(handler);
  install();
  return () => {
    handlers.delete(handler);
    if (handlers.size === 0 && !interrupted) uninstall();
  };
}

function runNow(signal: InterruptSignal, final: boolean): void {
  for (const h of [...handlers]) {
    try {
      h.now?.(signal, final);
    } catch {
      // Cleanup is best effort: one failure must not keep the others from running.
    }
  }
}

function settleTimeoutMs(): number {
  const value = Number(process.env["LETHE_INTERRUPT_TIMEOUT_MS"]);
  return Number.isFinite(value) && value >= 0 ? value : 10_000;
}

function onSignal(signal: InterruptSignal): void {
  if (process.listenerCount(signal) > 1) return;
  if (interrupted) {
    die(signal);
    return;
  }
  interrupted = true;
  runNow(signal, false);
  const settling = [...handlers].flatMap((h) => (h.settle ? [h.settle(signal).catch(() => undefined)] : []));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, settleTimeoutMs());
  });
  void Promise.race([Promise.allSettled(settling), timeout]).then(() => {
    clearTimeout(timer);
    die(signal);
  });
}

function die(signal: InterruptSignal): void {
  runNow(signal, true);
  handlers.clear();
  uninstall();
  process.kill(process.pid, signal);
}

const sigint = (): void => onSignal("SIGINT");
const sigterm = (): void => onSignal("SIGTERM");

function install(): void {
  if (installed) return;
  installed = true;
  process.on("SIGINT", sigint);
  process.on("SIGTERM", sigterm);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off("SIGINT", sigint);
  process.off("SIGTERM", sigterm);
}
