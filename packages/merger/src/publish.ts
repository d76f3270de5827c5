/**
 * Publishing a merge: the checkpoint writer around the weights, config.json, tokenizer files, the README
 * model card, mergekit_config.yml and the manifest with the merge statistics as metrics.
 */
import { CheckpointWriter, ShardedWeightsWriter, TOKENIZER_FILES } from "@lethe/core";
import { stringify } from "yaml";
import type { MergeOptions, MergeResult } from "./merge-options.js";
import { modelCard } from "./output/model-card.js";
import { outputModelConfig } from "./output/model-config.js";
import { isEmbedding, type MergePlan } from "./plan.js";
import type { ModelSource } from "./sources.js";
import { StatsCollector, statsAsMetrics } from "./stats.js";

/** Everything around the weights: the checkpoint writer, config.json, tokenizer, card, config, manifest. */
export async function publish(
  plan: MergePlan,
  sources: readonly ModelSource[],
  outUri: string,
  options: MergeOptions,
  started: number,
  writeWeights: (weights: ShardedWeightsWriter, collector: StatsCollector) => Promise<void>,
  output: {
    weightsFile?: string;
    extraJson?: Record<string, unknown>;
    kind?: string;
    modelConfig?: boolean;
  } = {},
): Promise<MergeResult> {
  const base = plan.baseSource === null ? null : sources[plan.baseSource]!;
  const donor = base ?? sources[plan.tensors[0]?.inputs[0]?.source ?? 0]!;
  const parents = [...new Set(plan.sources.filter((s) => s.roles.length > 0).map((s) => s.uri))];
  const configYaml = options.configDocument === undefined ? "" : stringify(options.configDocument);
  const writer = await CheckpointWriter.begin(outUri, {
    stage: "merge",
    parents,
    parameters: {
      merge_method: plan.method.name,
      semantics: plan.semantics.name,
      arithmetic: plan.semantics.arithmetic,
      seed: plan.seed,
      tensor_coverage: plan.coverage,
      models: plan.sources.map((s) => ({ model: s.label, uri: s.uri, roles: s.roles })),
      ...(options.configDocument !== undefined ? { config: options.configDocument } : {}),
    },
    ...(options.store ? { store: options.store } : {}),
  });
  const weights = ShardedWeightsWriter.create(
    writer.store,
    plan.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
    {
      maxShardBytes: options.outShardBytes ?? 5e9,
      ...(output.weightsFile ? { singleFile: output.weightsFile } : {}),
    },
  );
  try {
    const collector = new StatsCollector();
    await writeWeights(weights, collector);
    const files = await weights.finish();
    if (output.modelConfig !== false) {
      const embedding = plan.tensors.find((t) => isEmbedding(t.name) && t.shape.length === 2);
      const config = outputModelConfig(donor.config, plan.torchDtype, embedding ? embedding.shape[0]! : null);
      if (config) await writer.putJson("config.json", config);
    }
    for (const [key, value] of Object.entries(output.extraJson ?? {})) await writer.putJson(key, value);
    if (options.copyTokenizer !== false) {
      for (const file of TOKENIZER_FILES) {
        if (await donor.store.head(file)) await writer.copyFrom(donor.store, file);
      }
    }
    if (configYaml) await writer.putBytes("mergekit_config.yml", new TextEncoder().encode(configYaml));
    await writer.putBytes(
      "README.md",
      new TextEncoder().encode(
        modelCard({
          name: outUri.replace(/\/+$/, "").split("/").pop() || "merged",
          methodName: plan.method.prettyName,
          methodUrl: plan.method.referenceUrl,
          semantics: plan.semantics.name,
          base: base?.label ?? null,
          models: plan.sources
            .filter((s, i) => i !== plan.baseSource && s.roles.length > 0)
            .map((s) => s.label),
          configYaml: configYaml || "# (configuration given through the API)\n",
          ...(output.kind ? { kind: output.kind } : {}),
        }),
      ),
    );
    const stats = collector.summary();
    const seconds = (performance.now() - started) / 1000;
    const metrics = statsAsMetrics(stats, seconds);
    await options.onStats?.(metrics, stats);
    writer.setMetrics(metrics);
    await writer.commit();
    return { uri: writer.uri, plan, stats, seconds, files };
  } catch (err) {
    await weights.abort().catch(() => undefined);
    await writer.abort().catch(() => undefined);
    throw err;
  }
}
