/** lethe-data: synthesize, validate and convert SemEval-2025 Task 4 data (see `lethe-data --help`). */
import { DATA_CLI_HELP, runDataCli } from "../data/cli.js";
import { runCli } from "./run-cli.js";

runCli("lethe-data", DATA_CLI_HELP, (argv) => runDataCli(argv), import.meta.url);
