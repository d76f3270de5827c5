/**
 * Training progress on stderr: a bar with the loss and the ETA redrawn in place on a terminal; otherwise one
 * line every `every` steps (logs, CI).
 */
import type { StepRecord } from "../train.js";

export class StepProgress {
  private readonly started = Date.now();
  private readonly tty: boolean;
  private drawn = false;

  constructor(
    private readonly quiet: boolean,
    private readonly every: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = !!stream.isTTY;
  }

  update(r: StepRecord, step: number, total: number): void {
    if (this.quiet) return;
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = step > 0 ? (elapsed / step) * Math.max(0, total - step) : 0;
    const terms = Object.entries(r.terms)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(" ");
    const text =
      `step ${step}/${total} epoch ${r.epoch + 1} loss ${r.loss.toFixed(4)} (${terms}) ` +
      `|g| ${r.gradNorm.toFixed(3)} lr ${r.lr.toExponential(2)} ${r.tokensPerSecond.toFixed(0)} tok/s ETA ${clock(eta)}`;
    if (this.tty) {
      const width = 20;
      const filled = Math.round((step / Math.max(1, total)) * width);
      this.stream.write(`\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${text}\x1b[K`);
      this.drawn = true;
    } else if (step % this.every === 0 || step === 1 || step === total) {
      this.stream.write(`${text}\n`);
    }
  }

  /** End the bar's line before other output. */
  pause(): void {
    if (this.drawn) this.stream.write("\n");
    this.drawn = false;
  }

  finish(): void {
    this.pause();
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(s % 60).padStart(2, "0")}s`;
}
