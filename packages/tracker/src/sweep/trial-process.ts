/**
 * One trial's child process. It runs in its own process group (so a terminal's Ctrl-C reaches only the
 * controller, which then stops trials in order) and is stopped with SIGTERM to the whole group, then
 * SIGKILL after a grace period. Its output goes to a log file and, prefixed, to the controller's stderr;
 * every stdout line that is a JSON object is kept as a metrics row (the fallback for trials that do not
 * log through the tracker).
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { constants } from "node:os";

export interface TrialProcessOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** Prefix for echoed lines, e.g. "[t003] "; null echoes nothing. */
  echoPrefix: string | null;
  echo?: NodeJS.WritableStream;
  /** Seconds between SIGTERM and SIGKILL. */
  graceSeconds: number;
  onStdoutRow?: (row: Record<string, unknown>) => void;
}

export interface TrialExit {
  /** The exit code, or 128 + signal number for a child that died by a signal. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** Set when the child could not be started at all (e.g. ENOENT). */
  spawnError: string | null;
  stdoutRows: Record<string, unknown>[];
}

export class TrialProcess {
  readonly done: Promise<TrialExit>;
  private readonly pid: number | undefined;
  private readonly graceMs: number;
  private killTimer: NodeJS.Timeout | null = null;
  private exited = false;
  stopRequested = false;

  constructor(options: TrialProcessOptions) {
    this.graceMs = options.graceSeconds * 1000;
    const log = createWriteStream(options.logFile, { flags: "a" });
    const rows: Record<string, unknown>[] = [];
    const [command, ...args] = options.argv;
    const child = spawn(command!, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.pid = child.pid;
    const echo = options.echo ?? process.stderr;

    const lineSplitter = (onLine: (line: string) => void) => {
      let carry = "";
      return {
        push(chunk: Buffer) {
          carry += chunk.toString("utf8");
          const lines = carry.split("\n");
          carry = lines.pop() ?? "";
          for (const line of lines) onLine(line);
        },
        end() {
          if (carry.length > 0) onLine(carry);
          carry = "";
        },
      };
    };
    const handle = (stream: "stdout" | "stderr") => (line: string) => {
      log.write(`${line}\n`);
      if (options.echoPrefix !== null) echo.write(`${options.echoPrefix}${line}\n`);
      if (stream === "stdout") {
        const row = parseJsonObject(line);
        if (row) {
          rows.push(row);
          options.onStdoutRow?.(row);
        }
      }
    };
    const out = lineSplitter(handle("stdout"));
    const err = lineSplitter(handle("stderr"));
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));

    this.done = new Promise<TrialExit>((resolve) => {
      let spawnError: string | null = null;
      child.on("error", (e) => {
        spawnError = e.message;
      });
      child.on("close", (code, signal) => {
        this.exited = true;
        if (this.killTimer) clearTimeout(this.killTimer);
        out.end();
        err.end();
        if (spawnError !== null) log.write(`lethe-track sweep: could not start ${command}: ${spawnError}\n`);
        log.end();
        const signalNumber = signal ? (constants.signals[signal] ?? 0) : 0;
        const exitCode = spawnError !== null ? 127 : (code ?? 128 + signalNumber);
        resolve({ exitCode, signal, spawnError, stdoutRows: rows });
      });
    });
  }

  /** SIGTERM to the trial's process group now, SIGKILL after the grace period if it is still there. */
  stop(): void {
    if (this.exited || this.pid === undefined || this.stopRequested) return;
    this.stopRequested = true;
    this.signalGroup("SIGTERM");
    this.killTimer = setTimeout(() => this.signalGroup("SIGKILL"), this.graceMs);
    this.killTimer.unref();
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.exited || this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // The group is already gone.
    }
  }
}

function parseJsonObject(line: string): Record<string, unknown> | null {
  const text = line.trim();
  if (!text.startsWith("{") || !text.endsWith("}")) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
