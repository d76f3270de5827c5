/**
 * `lethe-data`: generate, validate and convert SemEval-2025 Task 4 data. The bin (`src/cli/lethe-data.ts`)
 * only calls `runDataCli`, which reports its own errors, so tests can run the CLI in-process too. Exit codes: 0 ok, 1 failure (bad
 * rows, unreadable files), 2 usage.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../cli/run-cli.js";
import { errorMessage } from "../errors.js";
import { badRows, formatIssue, type RowIssue } from "./issues.js";
import { type CheckedRows, checkMiaRecords, checkTaskRecords, readRecords } from "./load.js";
import { locate, locateDir } from "./location.js";
import { inspectMmlu, parseMmluCsv } from "./mmlu.js";
import { formatOf } from "./records.js";
import { type MiaRow, rowKind, SPLITS, type Split, TASKS, type TaskRow } from "./schema.js";
import { SYNTH_SIZES, type SynthSize, synthesize } from "./synth/dataset.js";
import { writeSynthDataset } from "./synth/write.js";
import { writeMiaRows, writeTaskRows } from "./write.js";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export const DATA_CLI_HELP = `lethe-data: SemEval-2025 Task 4 datasets

Usage:
  lethe-data synth --out DIR --seed N [--size tiny|small] [--force]
      Write a synthetic dataset (forget/retain .jsonl and .parquet, member/nonmember.jsonl, mmlu/,
      corpus.txt, documents.jsonl, dataset.json, README.md). Same seed, same bytes.
      Refuses a DIR that is not empty unless --force (which replaces the dataset's files).
  lethe-data validate FILE... [--schema task|mia] [--split forget|retain]
      Load each file (.jsonl, .parquet, pandas .json; an MMLU .csv or directory) and report every bad row.
      The schema is guessed per file (rows with 'document' and no 'input' are MIA) unless --schema is given.
      --split fills the split of rows that have no 'split' field.
  lethe-data convert IN OUT [--schema task|mia] [--split forget|retain]
      Rewrite a data file in the format of OUT's extension (.jsonl, .parquet, .json = pandas columns).
      Refuses (exit 1) if any row is bad.

Paths may be local paths, file:// or s3:// URIs.
Exit status: 0 ok, 1 bad data or I/O failure, 2 usage error.
`;

type Schema = "task" | "mia";

function parse<T extends Parameters<typeof parseArgs>[0]>(config: T) {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

function schemaOption(value: unknown): Schema | undefined {
  if (value === undefined) return undefined;
  if (value === "task" || value === "mia") return value;
  throw new UsageError(`--schema must be task or mia, got "${String(value)}"`);
}

function splitOption(value: unknown): Split | undefined {
  if (value === undefined) return undefined;
  if ((SPLITS as readonly unknown[]).includes(value)) return value as Split;
  throw new UsageError(`--split must be forget or retain, got "${String(value)}"`);
}

const CHECK_OPTIONS = {
  schema: { type: "string" },
  split: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

async function synthCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({
    args,
    options: {
      out: { type: "string" },
      seed: { type: "string" },
      size: { type: "string", default: "tiny" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    io.stdout(DATA_CLI_HELP);
    return 0;
  }
  if (positionals.length > 0)
    throw new UsageError(`synth takes no positional arguments, got "${positionals[0]}"`);
  if (typeof values.out !== "string") throw new UsageError("synth needs --out DIR");
  if (typeof values.seed !== "string") throw new UsageError("synth needs --seed N");
  const seed = Number(values.seed);
  if (!/^[0-9]+$/.test(values.seed) || !Number.isSafeInteger(seed)) {
    throw new UsageError(`--seed must be a non-negative integer, got "${values.seed}"`);
  }
  const size = values.size as string;
  if (!(SYNTH_SIZES as readonly string[]).includes(size)) {
    throw new UsageError(`--size must be one of ${SYNTH_SIZES.join(", ")}, got "${size}"`);
  }
  if (values.force !== true) {
    for await (const found of locateDir(values.out).store.list()) {
      io.stderr(
        `lethe-data: ${values.out}: already exists and is not empty (${found.key}); ` +
          "pass --force to overwrite the dataset there\n",
      );
      return 1;
    }
  }
  const manifest = await writeSynthDataset(values.out, synthesize({ seed, size: size as SynthSize }));
  const rows = (split: "forget" | "retain") =>
    TASKS.reduce((n, t) => n + manifest.counts[split][t].sc + manifest.counts[split][t].qa, 0);
  io.stdout(
    `wrote ${manifest.files.length} files to ${values.out}: forget ${rows("forget")} rows, retain ` +
      `${rows("retain")} rows, ${manifest.counts.member} member / ${manifest.counts.nonmember} non-member ` +
      `documents, ${Object.keys(manifest.counts.mmlu).length} MMLU subjects\n`,
  );
  return 0;
}

/** Load a row file with its schema (given or guessed) and return rows plus every issue. */
async function checkFile(
  file: string,
  schema: Schema | undefined,
  split: Split | undefined,
): Promise<{ schema: Schema; checked: CheckedRows<TaskRow> | CheckedRows<MiaRow> }> {
  const raw = await readRecords(file, { split });
  let chosen = schema;
  if (chosen === undefined) {
    const first = raw.records.find((r) => typeof r.value === "object" && r.value !== null)?.value as
      | Record<string, unknown>
      | undefined;
    chosen = first !== undefined && "document" in first && !("input" in first) ? "mia" : "task";
  }
  const checked = chosen === "mia" ? checkMiaRecords(raw, raw.file) : checkTaskRecords(raw, raw.file, split);
  return { schema: chosen, checked };
}

function describeTaskRows(rows: readonly TaskRow[]): string {
  const parts: string[] = [];
  for (const split of SPLITS) {
    const own = rows.filter((r) => r.split === split);
    if (own.length === 0) continue;
    const perTask = TASKS.map((task) => {
      const t = own.filter((r) => r.task === task);
      const sc = t.filter((r) => rowKind(r.id) === "sc").length;
      return `${task} ${sc} sc + ${t.length - sc} qa`;
    });
    parts.push(`${split}: ${perTask.join(", ")}`);
  }
  return parts.join("; ");
}

function wrap(detail: string): string {
  return detail === "" ? "" : ` (${detail})`;
}

function reportIssues(issues: readonly RowIssue[], io: CliIo): void {
  for (const issue of issues) io.stdout(formatIssue(issue) + "\n");
}

/** What `validate` makes of a path: a row file by extension, an MMLU CSV, or else an MMLU directory. */
function pathKind(file: string): "rows" | "mmlu-csv" | "mmlu-dir" {
  if (file.toLowerCase().endsWith(".csv")) return "mmlu-csv";
  try {
    formatOf(file);
    return "rows";
  } catch {
    return "mmlu-dir";
  }
}

async function validateMmluCsv(file: string, io: CliIo): Promise<boolean> {
  const { store, key, display } = locate(file);
  const { questions, issues } = parseMmluCsv(await store.get(key), display);
  reportIssues(issues, io);
  io.stdout(`${display}: ${issues.length === 0 ? "ok" : badRows(issues)}, ${questions.length} questions\n`);
  return issues.length === 0;
}

async function validateMmluDir(dir: string, io: CliIo): Promise<boolean> {
  const checked = await inspectMmlu(dir);
  if (checked.subjects.length === 0) {
    io.stdout(
      `${dir}: not a .jsonl, .parquet, .json or .csv file, nor an MMLU directory (no test/*_test.csv)\n`,
    );
    return false;
  }
  reportIssues(checked.issues, io);
  const n = checked.subjects.reduce((sum, s) => sum + s.test.length, 0);
  const status = checked.issues.length === 0 ? "ok" : badRows(checked.issues);
  io.stdout(`${dir}: ${status}, MMLU layout, ${checked.subjects.length} subjects, ${n} test questions\n`);
  return checked.issues.length === 0;
}

async function validateRows(file: string, schema: Schema | undefined, split: Split | undefined, io: CliIo) {
  const { schema: chosen, checked } = await checkFile(file, schema, split);
  reportIssues(checked.issues, io);
  const status = checked.issues.length === 0 ? "ok" : badRows(checked.issues);
  const detail =
    chosen === "task"
      ? `${checked.rows.length} task rows${wrap(describeTaskRows(checked.rows as TaskRow[]))}`
      : `${checked.rows.length} MIA documents`;
  io.stdout(`${checked.file}: ${status}, ${detail}\n`);
  return checked.issues.length === 0;
}

async function validateOne(file: string, schema: Schema | undefined, split: Split | undefined, io: CliIo) {
  switch (pathKind(file)) {
    case "mmlu-csv":
      return validateMmluCsv(file, io);
    case "mmlu-dir":
      return validateMmluDir(file, io);
    case "rows":
      return validateRows(file, schema, split, io);
  }
}

async function validateCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({ args, options: CHECK_OPTIONS, allowPositionals: true });
  if (values.help) {
    io.stdout(DATA_CLI_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("validate needs at least one FILE");
  const schema = schemaOption(values.schema);
  const split = splitOption(values.split);
  let ok = true;
  for (const file of positionals) {
    try {
      ok = (await validateOne(file, schema, split, io)) && ok;
    } catch (err) {
      io.stdout(`${errorMessage(err)}\n`);
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

async function convertCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse({ args, options: CHECK_OPTIONS, allowPositionals: true });
  if (values.help) {
    io.stdout(DATA_CLI_HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("convert needs IN and OUT");
  const [input, output] = positionals as [string, string];
  try {
    formatOf(output);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  const { schema, checked } = await checkFile(input, schemaOption(values.schema), splitOption(values.split));
  if (checked.issues.length > 0) {
    for (const issue of checked.issues) io.stderr(formatIssue(issue) + "\n");
    io.stderr(`${checked.file}: ${badRows(checked.issues)}; nothing written\n`);
    return 1;
  }
  if (schema === "task") await writeTaskRows(output, checked.rows as TaskRow[]);
  else await writeMiaRows(output, checked.rows as MiaRow[]);
  io.stdout(
    `wrote ${checked.rows.length} ${schema === "task" ? "task rows" : "MIA documents"} to ${output}\n`,
  );
  return 0;
}

const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  synth: synthCommand,
  validate: validateCommand,
  convert: convertCommand,
};

export async function runDataCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    (command === undefined ? io.stderr : io.stdout)(DATA_CLI_HELP);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  try {
    if (run === undefined) throw new UsageError(`unknown command "${command}"`);
    return await run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`lethe-data: ${err.message}\nRun "lethe-data --help" for usage.\n`);
      return 2;
    }
    io.stderr(`lethe-data: ${errorMessage(err)}\n`);
    return 1;
  }
}
