/**
 * The forget and retain rows of a run, read by @lethe/core's dataset loaders (JSONL, Parquet, JSON records or
 * pandas `orient="columns"` JSON, from a path, file:// or s3://). `data.forget` may also name a directory
 * holding `forget.*` and `retain.*` (the SemEval submission layout).
 */
import {
  type DataFormat,
  FormatError,
  formatOf,
  type LoadOptions,
  loadTaskRows,
  locateDir,
  type Split,
  type StoreOption,
  type TaskRow,
} from "@lethe/core";

const EXTENSIONS: readonly DataFormat[] = ["parquet", "jsonl", "json"];

export interface DataFiles {
  forget: string;
  retain: string | null;
}

export interface TrainingRows {
  files: DataFiles;
  forget: TaskRow[];
  /** Empty when the run has no retain set. */
  retain: TaskRow[];
}

function isDataFile(source: string): boolean {
  try {
    formatOf(source);
    return true;
  } catch {
    return false;
  }
}

function join(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

/** `<dir>/<split>.parquet|jsonl|json`: exactly one must exist when `required`. */
async function splitFileIn(
  dir: string,
  split: Split,
  required: boolean,
  options: StoreOption,
): Promise<string | null> {
  const { store, display } = locateDir(dir, options);
  const found: string[] = [];
  for (const ext of EXTENSIONS) if (await store.head(`${split}.${ext}`)) found.push(`${split}.${ext}`);
  if (found.length > 1) {
    throw new FormatError(
      `data: ${display} holds ${found.join(" and ")}; name the file to use in data.${split}`,
    );
  }
  if (found.length === 0) {
    if (!required) return null;
    throw new FormatError(
      `data.${split}: ${display} holds no ${split}.parquet, ${split}.jsonl or ${split}.json`,
    );
  }
  return join(dir, found[0] as string);
}

/** Which files a `data: {forget, retain}` section names. */
export async function resolveDataFiles(
  data: { forget: string; retain: string | null },
  options: StoreOption = {},
): Promise<DataFiles> {
  if (isDataFile(data.forget)) return { forget: data.forget, retain: data.retain };
  const forget = (await splitFileIn(data.forget, "forget", true, options)) as string;
  const retain = data.retain ?? (await splitFileIn(data.forget, "retain", false, options));
  return { forget, retain };
}

async function loadSplit(source: string, split: Split, options: LoadOptions): Promise<TaskRow[]> {
  const rows = await loadTaskRows(source, { ...options, split });
  if (rows.length === 0) throw new FormatError(`data.${split}: ${source} has no rows`);
  const stray = rows.find((row) => row.split !== split);
  if (stray !== undefined) {
    throw new FormatError(
      `data.${split}: ${source}: row ${stray.id} has split "${stray.split}", not "${split}"`,
    );
  }
  return rows;
}

/**
 * Load the rows of both splits. `retainRequiredBy` names what needs a retain set (`loss.retain_kl = 0.4`),
 * for the error when there is none; leave it out when the run can go without.
 */
export async function loadTrainingRows(
  data: { forget: string; retain: string | null },
  options: LoadOptions & { retainRequiredBy?: string } = {},
): Promise<TrainingRows> {
  const { retainRequiredBy, ...loadOptions } = options;
  const files = await resolveDataFiles(data, loadOptions);
  if (files.retain === null && retainRequiredBy !== undefined) {
    throw new FormatError(`data.retain: required by ${retainRequiredBy}, but none is set`);
  }
  const [forget, retain] = await Promise.all([
    loadSplit(files.forget, "forget", loadOptions),
    files.retain === null ? Promise.resolve([]) : loadSplit(files.retain, "retain", loadOptions),
  ]);
  return { files, forget, retain };
}

/** What in a loss config needs retain rows, as an error would say it; undefined when nothing does. */
export function retainNeed(loss: {
  forget: string;
  retain_kl: number;
  retain_nll: number;
  rmu: { alpha: number };
}): string | undefined {
  if (loss.retain_kl > 0) return `loss.retain_kl = ${loss.retain_kl}`;
  if (loss.retain_nll > 0) return `loss.retain_nll = ${loss.retain_nll}`;
  if ((loss.forget === "rmu" || loss.forget === "adaptive_rmu") && loss.rmu.alpha > 0) {
    return `loss.forget = ${loss.forget} (retain weight loss.rmu.alpha = ${loss.rmu.alpha})`;
  }
  return undefined;
}
