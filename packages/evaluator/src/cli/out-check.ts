import { closeSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { isRemoteUri } from "@lethe/core";

/** The first existing path on the way to `dir` that is not a directory, or null. */
function fileOnTheWay(dir: string): string | null {
  for (let at = dir; ; at = path.dirname(at)) {
    const st = statSync(at, { throwIfNoEntry: false });
    if (st !== undefined) return st.isDirectory() ? null : at;
    if (path.dirname(at) === at) return null;
  }
}

/**
 * Fail now, not after the generation, if `target` cannot be written: a directory where a file must go, a
 * file where a directory must go, no permission. `kind` says which `target` is. Creates missing parent
 * directories (as the write would). S3 URIs are checked when written.
 */
export function checkWritable(flag: string, target: string, kind: "file" | "dir"): void {
  if (isRemoteUri(target)) return;
  const resolved = path.resolve(target);
  const st = statSync(resolved, { throwIfNoEntry: false });
  if (st !== undefined && kind === "file" && st.isDirectory())
    throw new Error(
      `${flag} ${target}: is a directory; give a file name such as ${path.join(target, "eval.json")}`,
    );
  if (st !== undefined && kind === "dir" && !st.isDirectory())
    throw new Error(`${flag} ${target}: is a file, not a directory`);
  const dir = kind === "dir" ? resolved : path.dirname(resolved);
  const blocker = fileOnTheWay(dir);
  if (blocker !== null)
    throw new Error(`${flag} ${target}: cannot be written: ${blocker} is a file, not a directory`);
  const probe = path.join(dir, `.lethe-eval-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    closeSync(openSync(probe, "w"));
  } catch (err) {
    throw new Error(
      `${flag} ${target}: cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  } finally {
    rmSync(probe, { force: true });
  }
}
