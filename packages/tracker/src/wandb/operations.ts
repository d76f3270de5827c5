/**
 * The GraphQL operations Lethe's W&B client sends, with the shapes it reads back. Operation names and
 * input fields are those of the official clients (wandb/wandb internal_api.py), so a real server accepts
 * them; only the fields Lethe reads are selected.
 */
import { GraphQLError, type WandbClient } from "./client.js";

export const VIEWER = `query Viewer {
  viewer { id entity }
}`;

export const UPSERT_BUCKET = `mutation UpsertBucket(
  $id: String, $name: String, $project: String, $entity: String, $groupName: String, $description: String,
  $displayName: String, $notes: String, $commit: String, $config: JSONString, $host: String, $debug: Boolean,
  $program: String, $repo: String, $jobType: String, $state: String, $sweep: String, $tags: [String!],
  $summaryMetrics: JSONString
) {
  upsertBucket(input: {
    id: $id, name: $name, groupName: $groupName, modelName: $project, entityName: $entity,
    description: $description, displayName: $displayName, notes: $notes, config: $config, commit: $commit,
    host: $host, debug: $debug, jobProgram: $program, jobRepo: $repo, jobType: $jobType, state: $state,
    sweep: $sweep, tags: $tags, summaryMetrics: $summaryMetrics
  }) {
    bucket { id name displayName sweepName project { id name entity { id name } } }
    inserted
  }
}`;

export const RUN_RESUME_STATUS = `query RunResumeStatus($project: String, $entity: String, $name: String!) {
  model(name: $project, entityName: $entity) {
    id
    name
    bucket(name: $name, missingOk: true) { id name historyLineCount summaryMetrics }
  }
}`;

export const RUN_UPLOAD_URLS = `query RunUploadUrls($name: String!, $files: [String]!, $entity: String, $run: String!) {
  model(name: $name, entityName: $entity) {
    bucket(name: $run) {
      id
      files(names: $files) { uploadHeaders edges { node { name url(upload: true) } } }
    }
  }
}`;

export const CREATE_ARTIFACT = `mutation CreateArtifact(
  $artifactTypeName: String!, $artifactCollectionNames: [String!], $entityName: String!, $projectName: String!,
  $runName: String, $description: String, $digest: String!, $aliases: [ArtifactAliasInput!],
  $metadata: JSONString, $clientID: ID!, $sequenceClientID: ID!
) {
  createArtifact(input: {
    artifactTypeName: $artifactTypeName, artifactCollectionNames: $artifactCollectionNames,
    entityName: $entityName, projectName: $projectName, runName: $runName, description: $description,
    digest: $digest, digestAlgorithm: MANIFEST_MD5, aliases: $aliases, metadata: $metadata,
    clientID: $clientID, sequenceClientID: $sequenceClientID
  }) {
    artifact { id digest state }
  }
}`;

export const CREATE_ARTIFACT_MANIFEST = `mutation CreateArtifactManifest(
  $name: String!, $digest: String!, $artifactID: ID!, $baseArtifactID: ID, $entityName: String!,
  $projectName: String!, $runName: String!, $includeUpload: Boolean!
) {
  createArtifactManifest(input: {
    name: $name, digest: $digest, artifactID: $artifactID, baseArtifactID: $baseArtifactID,
    entityName: $entityName, projectName: $projectName, runName: $runName
  }) {
    artifactManifest {
      id
      file { id name uploadUrl @include(if: $includeUpload) uploadHeaders @include(if: $includeUpload) }
    }
  }
}`;

export const COMMIT_ARTIFACT = `mutation CommitArtifact($artifactID: ID!) {
  commitArtifact(input: { artifactID: $artifactID }) { artifact { id digest } }
}`;

export const UPSERT_SWEEP = `mutation UpsertSweep(
  $id: ID, $config: String, $description: String, $entityName: String, $projectName: String,
  $controller: JSONString, $state: String, $displayName: String
) {
  upsertSweep(input: {
    id: $id, config: $config, description: $description, entityName: $entityName,
    projectName: $projectName, controller: $controller, state: $state, displayName: $displayName
  }) {
    sweep { name project { id name entity { id name } } }
    configValidationWarnings
  }
}`;

export const SWEEP = `query Sweep($entity: String, $project: String, $sweep: String!) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $sweep) { id name state config }
  }
}`;

export const CREATE_AGENT = `mutation CreateAgent($host: String!, $projectName: String, $entityName: String, $sweep: String!) {
  createAgent(input: { host: $host, projectName: $projectName, entityName: $entityName, sweep: $sweep }) {
    agent { id }
  }
}`;

export const AGENT_HEARTBEAT = `mutation Heartbeat($id: ID!, $metrics: JSONString, $runState: JSONString) {
  agentHeartbeat(input: { id: $id, metrics: $metrics, runState: $runState }) {
    agent { id }
    commands
  }
}`;

type Signal = AbortSignal | undefined;

export async function viewerEntity(client: WandbClient, signal?: Signal): Promise<string> {
  const data = await client.graphql<{ viewer: { entity: string | null } | null }>(VIEWER, {}, signal);
  const entity = data.viewer?.entity;
  if (!entity)
    throw new GraphQLError("W&B Viewer: the server did not name a default entity; set WANDB_ENTITY");
  return entity;
}

export interface UpsertRunInput {
  name: string;
  project: string;
  entity: string;
  displayName: string;
  groupName: string | null;
  jobType: string | null;
  tags: string[];
  notes: string | null;
  sweep: string | null;
  host: string;
  /** W&B's nested form: {"key": {"value": v}} as a JSON string. */
  config: string;
}

export async function upsertRun(client: WandbClient, input: UpsertRunInput, signal?: Signal): Promise<void> {
  const data = await client.graphql<{ upsertBucket: { bucket: { name: string } | null } | null }>(
    UPSERT_BUCKET,
    { ...input },
    signal,
  );
  if (!data.upsertBucket?.bucket)
    throw new GraphQLError(`W&B UpsertBucket: run ${input.name} was not created`);
}

/** Lines the server holds for a run, or null when the run does not exist there yet. */
export async function runHistoryLineCount(
  client: WandbClient,
  entity: string,
  project: string,
  name: string,
  signal?: Signal,
): Promise<number | null> {
  const data = await client.graphql<{ model: { bucket: { historyLineCount: number | null } | null } | null }>(
    RUN_RESUME_STATUS,
    { entity, project, name },
    signal,
  );
  const bucket = data.model?.bucket;
  return bucket ? (bucket.historyLineCount ?? 0) : null;
}

export interface UploadTarget {
  url: string;
  headers: Record<string, string>;
}

/** `uploadHeaders` come as "Name:Value" strings. */
export function parseUploadHeaders(headers: string[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const header of headers ?? []) {
    const colon = header.indexOf(":");
    if (colon > 0) out[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  return out;
}

export async function runUploadUrl(
  client: WandbClient,
  entity: string,
  project: string,
  run: string,
  file: string,
  signal?: Signal,
): Promise<UploadTarget> {
  const data = await client.graphql<{
    model: {
      bucket: {
        files: { uploadHeaders: string[] | null; edges: { node: { name: string; url: string } }[] };
      } | null;
    } | null;
  }>(RUN_UPLOAD_URLS, { name: project, entity, run, files: [file] }, signal);
  const files = data.model?.bucket?.files;
  const node = files?.edges.find((e) => e.node.name === file)?.node;
  if (!node?.url) throw new GraphQLError(`W&B RunUploadUrls: no upload URL for ${file} of run ${run}`);
  return { url: node.url, headers: parseUploadHeaders(files?.uploadHeaders) };
}

export interface SweepInfo {
  id: string;
  name: string;
  state: string;
  /** The sweep configuration as the YAML string it was created with. */
  config: string;
}

export async function readSweep(
  client: WandbClient,
  entity: string,
  project: string,
  sweep: string,
  signal?: Signal,
): Promise<SweepInfo> {
  const data = await client.graphql<{ project: { sweep: SweepInfo | null } | null }>(
    SWEEP,
    { entity, project, sweep },
    signal,
  );
  const info = data.project?.sweep;
  if (!info) throw new GraphQLError(`W&B Sweep: no sweep ${entity}/${project}/${sweep}`);
  return info;
}

export async function upsertSweep(
  client: WandbClient,
  input: { entity: string; project: string; configYaml: string; displayName?: string },
  signal?: Signal,
): Promise<string> {
  const data = await client.graphql<{ upsertSweep: { sweep: { name: string } } | null }>(
    UPSERT_SWEEP,
    {
      entityName: input.entity,
      projectName: input.project,
      config: input.configYaml,
      displayName: input.displayName ?? null,
    },
    signal,
  );
  const name = data.upsertSweep?.sweep.name;
  if (!name) throw new GraphQLError("W&B UpsertSweep: no sweep was created");
  return name;
}

export async function createAgent(
  client: WandbClient,
  input: { host: string; entity: string; project: string; sweep: string },
  signal?: Signal,
): Promise<string> {
  const data = await client.graphql<{ createAgent: { agent: { id: string } } | null }>(
    CREATE_AGENT,
    { host: input.host, entityName: input.entity, projectName: input.project, sweep: input.sweep },
    signal,
  );
  const id = data.createAgent?.agent.id;
  if (!id) throw new GraphQLError(`W&B CreateAgent: no agent was registered for sweep ${input.sweep}`);
  return id;
}

/** A command the sweep controller sends an agent on a heartbeat. */
export interface AgentCommand {
  type: string;
  run_id?: string;
  program?: string;
  args?: Record<string, { value: unknown }>;
  env?: Record<string, string>;
  [key: string]: unknown;
}

export async function agentHeartbeat(
  client: WandbClient,
  agentId: string,
  runState: Record<string, boolean>,
  signal?: Signal,
): Promise<AgentCommand[]> {
  const data = await client.graphql<{ agentHeartbeat: { commands: string | null } | null }>(
    AGENT_HEARTBEAT,
    { id: agentId, metrics: "{}", runState: JSON.stringify(runState) },
    signal,
  );
  const raw = data.agentHeartbeat?.commands;
  if (raw === null || raw === undefined || raw === "") return [];
  let commands: unknown;
  try {
    commands = JSON.parse(raw);
  } catch {
    throw new GraphQLError(`W&B Heartbeat: commands are not JSON: ${raw.slice(0, 200)}`);
  }
  if (!Array.isArray(commands)) throw new GraphQLError("W&B Heartbeat: commands are not a list");
  return commands.filter(
    (c): c is AgentCommand => c !== null && typeof c === "object" && typeof c.type === "string",
  );
}
