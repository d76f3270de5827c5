/**
 * The default store: a directory. Writes go to a temporary name and are renamed into place, so a reader
 * never sees a half-written file; a checkpoint is staged in a hidden sibling directory and renamed into
 * place whole, which also refuses to replace a non-empty destination.
 *
 * Staging is named after the process that owns it (`.OUT.lethe-staging-p<pid>-<random>`): SIGINT/SIGTERM
 * removes it (see process/interrupt.ts), and the next publication to the same destination removes staging
 * whose process no longer runs (a SIGKILL, a power cut). Work still in flight when the signal lands cannot
 * bring it back: the handler first renames it away (one atomic step, which a publishing rename either wins
 * whole or loses whole), and writes into staging never create the staging directory itself.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, renameSync, rmSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { ConflictError, NotFoundError } from "../errors.js";
import { onInterrupt } from "../process/interrupt.js";
import type { ByteSink, ObjectInfo, PutOptions, ReadRange, Staging, Store } from "./types.js";

export class FileStore implements Store {
  readonly uri: string;

  /**
   * @param anchor a directory that writes must never create (nor anything above it): directories are made
   *   only below it, so a write after it was removed fails instead of recreating it. Null: `mkdir -p`.
   */
  constructor(
    readonly root: string,
    private readonly anchor: string | null = null,
  ) {
    this.root = path.resolve(root);
    this.uri = pathToFileURL(this.root).href;
  }

  /** Absolute path of a key; keys cannot climb out of the root. */
  pathOf(key: string): string {
    const full = path.resolve(this.root, key);
    if (full !== this.root && !full.startsWith(this.root + path.sep)) {
      throw new Error(`key "${key}" escapes the store root ${this.root}`);
    }
    return full;
  }

  private describe(key: string): string {
    return key === "" ? this.root : path.join(this.root, key);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const st = await fs.stat(this.pathOf(key));
      return st.isFile() ? { key, size: st.size } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`${this.describe(key)}: no such file`);
      throw err;
    }
  }

  async getRange(key: string, range: ReadRange): Promise<Uint8Array> {
    const length = range.end - range.start;
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.pathOf(key), "r");
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`${this.describe(key)}: no such file`);
      throw err;
    }
    try {
      const out = Buffer.allocUnsafeSlow(length); // not pooled: callers may view `.buffer` as floats
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, range.start + done);
        if (bytesRead === 0) {
          throw new NotFoundError(
            `${this.describe(key)}: bytes [${range.start}, ${range.end}) run past the end of the file (truncated?)`,
          );
        }
        done += bytesRead;
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  async *readStream(key: string, range?: ReadRange): AsyncIterable<Uint8Array> {
    if (!(await this.head(key))) throw new NotFoundError(`${this.describe(key)}: no such file`);
    if (range && range.end <= range.start) return;
    const stream = createReadStream(this.pathOf(key), {
      highWaterMark: 1 << 20,
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
    });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    const found: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import("node:fs").Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) {
          const key = path.relative(this.root, full).split(path.sep).join("/");
          if (key.startsWith(prefix) && !isTemporary(e.name))
            found.push({ key, size: (await fs.stat(full)).size });
        }
      }
    };
    await walk(this.root);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const target = this.pathOf(key);
    await makeDirectory(path.dirname(target), this.anchor);
    if (options.ifNoneMatch) {
      try {
        await fs.writeFile(target, body, { flag: "wx" });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") {
          throw new ConflictError(`${this.describe(key)}: already exists`);
        }
        throw err;
      }
      return;
    }
    const temp = temporaryName(target);
    const forget = removeOnInterrupt(temp);
    try {
      await fs.writeFile(temp, body);
      await fs.rename(temp, target);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    } finally {
      forget();
    }
  }

  createWriter(key: string): ByteSink {
    return new FileSink(this.pathOf(key), this.anchor);
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  child(sub: string): Store {
    return new FileStore(this.pathOf(sub), this.anchor);
  }

  /**
   * What `beginStaging` refuses, without creating anything: a checkpoint or other files already there, a
   * file in the way. Stages call it before their expensive part.
   */
  async checkDestination(): Promise<void> {
    const st = await fs.stat(this.root).catch((err) => (isMissing(err) ? null : Promise.reject(err)));
    if (st !== null && !st.isDirectory())
      throw new ConflictError(`${this.root}: already exists and is a file, not a directory`);
    if (await this.head("lethe.json")) throw new ConflictError(`${this.root}: already holds a checkpoint`);
    const existing = await fs.readdir(this.root).catch((err) => (isMissing(err) ? [] : Promise.reject(err)));
    if (existing.length > 0) throw new ConflictError(`${this.root}: already exists and is not empty`);
    const blocker = await fileOnTheWay(path.dirname(this.root));
    if (blocker !== null) throw parentIsAFile(this.root, blocker);
  }

  async beginStaging(): Promise<Staging> {
    await this.checkDestination();
    await mkdirParent(this.root);
    await removeStaleStaging(this.root);
    const stagingDir = stagingName(this.root);
    // Registered before the directory exists: a signal handled while mkdir is in flight (the directory made,
    // this continuation not yet run) must still find it to remove.
    const forget = removeStagingOnInterrupt(stagingDir, this.root);
    try {
      await fs.mkdir(stagingDir);
    } catch (err) {
      forget();
      throw err;
    }
    return new FileStaging(this.root, new FileStore(stagingDir, stagingDir), forget);
  }
}

/** mkdir -p of the destination's parent, with a message when a path on the way is a file. */
async function mkdirParent(destination: string): Promise<void> {
  try {
    await fs.mkdir(path.dirname(destination), { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EEXIST" && code !== "ENOTDIR") throw err;
    throw parentIsAFile(
      destination,
      (await fileOnTheWay(path.dirname(destination))) ?? path.dirname(destination),
    );
  }
}

/** The first existing path on the way to `dir` that is not a directory, or null. */
async function fileOnTheWay(dir: string): Promise<string | null> {
  for (let at = dir; ; at = path.dirname(at)) {
    const st = await fs.stat(at).catch(() => null);
    if (st !== null) return st.isDirectory() ? null : at;
    if (path.dirname(at) === at) return null;
  }
}

function parentIsAFile(destination: string, blocker: string): ConflictError {
  return new ConflictError(
    `${destination}: cannot create its parent directory: ${blocker} is a file, not a directory`,
  );
}

function stagingPrefix(destination: string): string {
  return `.${path.basename(destination)}.lethe-staging-`;
}

/** A fresh staging path for `destination`, owned by this process. */
function stagingName(destination: string): string {
  return path.join(
    path.dirname(destination),
    `${stagingPrefix(destination)}p${process.pid}-${randomBytes(6).toString("hex")}`,
  );
}

/** `mkdir -p dir`, except that with an anchor only directories below the anchor are made. */
async function makeDirectory(dir: string, anchor: string | null): Promise<void> {
  if (anchor === null) {
    await fs.mkdir(dir, { recursive: true });
    return;
  }
  const below = path.relative(anchor, dir);
  let at = anchor;
  for (const part of below === "" ? [] : below.split(path.sep)) {
    at = path.join(at, part);
    try {
      await fs.mkdir(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") continue;
      if (code === "ENOENT" && !(await fs.stat(anchor).catch(() => null)))
        throw new Error(
          `${anchor}: the staging directory is gone (removed on interrupt?); cannot write ${dir}`,
        );
      throw err;
    }
  }
}

/** Remove staging directories of `destination` left by processes of this host that no longer run. */
export async function removeStaleStaging(destination: string): Promise<string[]> {
  const prefix = stagingPrefix(destination);
  const parent = path.dirname(destination);
  const removed: string[] = [];
  for (const name of await fs.readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = /^p(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length))?.[1];
    if (pid === undefined || processRuns(Number(pid))) continue;
    await fs.rm(path.join(parent, name), { recursive: true, force: true });
    removed.push(path.join(parent, name));
  }
  return removed;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Delete the file `target` if the process is interrupted; the returned function stops that. */
function removeOnInterrupt(target: string): () => void {
  return onInterrupt({ now: () => rmSync(target, { force: true }) });
}

/**
 * Delete a staging directory if the process is interrupted. It is renamed to a fresh staging name first:
 * against a publishing rename still in flight one of the two wins whole (never a published directory with
 * files removed from under it), and writes still in flight then miss it instead of filling it again, so the
 * removal cannot fail on an entry made meanwhile. Gone already (published, or never made): nothing to do.
 */
function removeStagingOnInterrupt(stagingDir: string, destination: string): () => void {
  return onInterrupt({
    now: () => {
      const doomed = stagingName(destination);
      try {
        renameSync(stagingDir, doomed);
      } catch {
        return;
      }
      rmSync(doomed, { recursive: true, force: true });
    },
  });
}

class FileStaging implements Staging {
  constructor(
    private readonly destination: string,
    readonly store: FileStore,
    /** Stops removing the staging directory on SIGINT/SIGTERM (registered by beginStaging). */
    private readonly forget: () => void,
  ) {}

  async commit(manifestKey: string, manifest: Uint8Array): Promise<void> {
    await this.store.put(manifestKey, manifest);
    try {
      // rename(2) replaces an empty directory but never a non-empty one: concurrent publishers cannot clobber.
      await fs.rename(this.store.root, this.destination);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR") {
        await this.abort();
        throw new ConflictError(
          `${this.destination}: already exists and is not empty; nothing was published`,
        );
      }
      throw err;
    }
    this.forget();
  }

  async abort(): Promise<void> {
    await fs.rm(this.store.root, { recursive: true, force: true });
    this.forget();
  }
}

class FileSink implements ByteSink {
  private handle: Promise<fs.FileHandle> | null = null;
  private readonly temp: string;
  private done = false;
  bytesWritten = 0;

  private forget: (() => void) | null = null;

  constructor(
    private readonly target: string,
    private readonly anchor: string | null,
  ) {
    this.temp = temporaryName(target);
  }

  private open(): Promise<fs.FileHandle> {
    if (this.handle === null) {
      this.forget = removeOnInterrupt(this.temp);
      this.handle = makeDirectory(path.dirname(this.target), this.anchor).then(() => fs.open(this.temp, "w"));
    }
    return this.handle;
  }

  async write(chunk: Uint8Array): Promise<void> {
    const handle = await this.open();
    let offset = 0;
    while (offset < chunk.byteLength) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
      offset += bytesWritten;
    }
    this.bytesWritten += chunk.byteLength;
  }

  async close(): Promise<void> {
    const handle = await this.open();
    await handle.close();
    await fs.rename(this.temp, this.target);
    this.done = true;
    this.forget?.();
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.handle) await (await this.handle.catch(() => null))?.close().catch(() => undefined);
    await fs.rm(this.temp, { force: true });
    this.forget?.();
  }
}

const TEMP_MARK = ".lethe-tmp-";

function temporaryName(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}${TEMP_MARK}${randomBytes(6).toString("hex")}`,
  );
}

function isTemporary(name: string): boolean {
  return name.includes(TEMP_MARK);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
