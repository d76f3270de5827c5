/** The README.md model card of a merged model, in the layout of mergekit's (front matter, method, models, config). */
import { stringify } from "yaml";

export interface CardInput {
  name: string;
  methodName: string;
  methodUrl: string;
  semantics: string;
  base: string | null;
  models: string[];
  configYaml: string;
  /** Extra sentence about the output (e.g. a LoRA adapter). */
  kind?: string;
}

export function modelCard(c: CardInput): string {
  const front = stringify({
    base_model: [...(c.base ? [c.base] : []), ...c.models],
    library_name: "transformers",
    tags: ["mergekit", "merge", "lethe"],
  }).trimEnd();
  const baseText = c.base ? ` using ${c.base} as a base` : "";
  return `---
${front}
---
# ${c.name}

This is a merge of pre-trained language models created with Lethe's \`lethe-merge\`, which reads
[mergekit](https://github.com/arcee-ai/mergekit) configurations.${c.kind ? ` ${c.kind}` : ""}

## Merge Details
### Merge Method

This model was merged using the [${c.methodName}](${c.methodUrl}) merge method${baseText}, with ${c.semantics} semantics.

### Models Merged

The following models were included in the merge:
${c.models.map((m) => `* ${m}`).join("\n")}

### Configuration

The following YAML configuration was used to produce this model:

\`\`\`yaml
${c.configYaml.trimEnd()}
\`\`\`
`;
}
