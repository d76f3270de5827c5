/**
 * The W&B settings a run takes from its environment, read the way the Python client reads them:
 * arguments win over environment variables, WANDB_API_KEY wins over ~/.netrc.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { FormatError } from "@lethe/core";

export type WandbMode = "online" | "offline" | "disabled";

export interface WandbSettings {
  baseUrl: string;
  apiKey: string | null;
  entity: string | null;
  project: string | null;
  mode: WandbMode;
}

export const DEFAULT_BASE_URL = "https://api.wandb.ai";

function nonEmpty(value: string | undefined | null): string | null {
  return value !== undefined && value !== null && value.trim().length > 0 ? value.trim() : null;
}

/** WANDB_MODE: online|run → online, offline|dryrun → offline, disabled; WANDB_DISABLED=true → disabled. */
export function parseWandbMode(value: string | null, disabledFlag: string | null = null): WandbMode {
  if (disabledFlag !== null && ["true", "1", "yes"].includes(disabledFlag.toLowerCase())) return "disabled";
  if (value === null) return "online";
  switch (value.toLowerCase()) {
    case "online":
    case "run":
      return "online";
    case "offline":
    case "dryrun":
      return "offline";
    case "disabled":
      return "disabled";
    default:
      throw new FormatError(`WANDB_MODE=${JSON.stringify(value)}: expected online, offline or disabled`);
  }
}

export function wandbSettings(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<WandbSettings> = {},
): WandbSettings {
  const baseUrl = (overrides.baseUrl ?? nonEmpty(env["WANDB_BASE_URL"]) ?? DEFAULT_BASE_URL).replace(
    /\/+$/,
    "",
  );
  const apiKey = overrides.apiKey ?? nonEmpty(env["WANDB_API_KEY"]) ?? netrcPassword(baseUrl, env);
  return {
    baseUrl,
    apiKey,
    entity: overrides.entity ?? nonEmpty(env["WANDB_ENTITY"]),
    project: overrides.project ?? nonEmpty(env["WANDB_PROJECT"]),
    mode: overrides.mode ?? parseWandbMode(nonEmpty(env["WANDB_MODE"]), nonEmpty(env["WANDB_DISABLED"])),
  };
}

/** The run-level variables a sweep agent or a launcher sets for a child process. */
export interface WandbRunEnv {
  runId: string | null;
  name: string | null;
  group: string | null;
  jobType: string | null;
  tags: string[] | null;
  notes: string | null;
  resume: string | null;
  sweepId: string | null;
  sweepParamPath: string | null;
}

export function wandbRunEnv(env: NodeJS.ProcessEnv = process.env): WandbRunEnv {
  const tags = nonEmpty(env["WANDB_TAGS"]);
  return {
    runId: nonEmpty(env["WANDB_RUN_ID"]),
    name: nonEmpty(env["WANDB_NAME"]),
    group: nonEmpty(env["WANDB_RUN_GROUP"]),
    jobType: nonEmpty(env["WANDB_JOB_TYPE"]),
    tags:
      tags === null
        ? null
        : tags
            .split(",")
            .map((t) => t.trim())
            .filter((t) => t.length > 0),
    notes: nonEmpty(env["WANDB_NOTES"]),
    resume: nonEmpty(env["WANDB_RESUME"]),
    sweepId: nonEmpty(env["WANDB_SWEEP_ID"]),
    sweepParamPath: nonEmpty(env["WANDB_SWEEP_PARAM_PATH"]),
  };
}

/** The password of the `machine <host>` entry in $NETRC or ~/.netrc, as `wandb login` writes it. */
export function netrcPassword(baseUrl: string, env: NodeJS.ProcessEnv = process.env): string | null {
  let host: string;
  try {
    host = new URL(baseUrl).hostname;
  } catch {
    throw new FormatError(`WANDB_BASE_URL=${JSON.stringify(baseUrl)} is not a URL`);
  }
  const path = nonEmpty(env["NETRC"]) ?? join(nonEmpty(env["HOME"]) ?? homedir(), ".netrc");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  const tokens = text.split(/\s+/).filter((t) => t.length > 0);
  let machine: string | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === "machine") machine = tokens[++i] ?? null;
    else if (token === "default") machine = null;
    else if (token === "password" && machine === host) return tokens[i + 1] ?? null;
  }
  return null;
}

export function basicAuthHeader(apiKey: string): string {
  return `Basic ${Buffer.from(`api:${apiKey}`).toString("base64")}`;
}
