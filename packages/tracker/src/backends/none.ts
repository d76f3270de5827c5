import type { Backend } from "./types.js";

/** `LETHE_TRACKER=none`: records nothing (a run in a test, or a dry run that must leave no files). */
export class NoneBackend implements Backend {
  readonly kind = "none";
  log(): void {}
  summary(): void {}
  config(): void {}
  table(): void {}
  artifact(): void {}
  async finish(): Promise<void> {}
}
