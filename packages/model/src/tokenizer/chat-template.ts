/**
 * Chat templates, applied only when asked (`lethe-model generate --chat`): the Jinja template from
 * `tokenizer_config.json` (`chat_template`, a string or a list of named templates) or `chat_template.jinja`,
 * rendered with `@huggingface/jinja` the way transformers' `apply_chat_template` does: `messages`,
 * `add_generation_prompt`, and the special tokens as variables. The SemEval evaluation uses no template.
 */
import { Template } from "@huggingface/jinja";
import { FormatError, type Store } from "@lethe/core";

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplate {
  template: string;
  /** bos_token, eos_token, pad_token, unk_token as strings, when the tokenizer config defines them. */
  specialTokens: Record<string, string>;
}

const SPECIAL_TOKEN_FIELDS = ["bos_token", "eos_token", "pad_token", "unk_token"] as const;

/** The checkpoint's chat template, or null when it has none. */
export async function loadChatTemplate(store: Store): Promise<ChatTemplate | null> {
  let config: Record<string, unknown> = {};
  if (await store.head("tokenizer_config.json")) {
    config = JSON.parse(new TextDecoder().decode(await store.get("tokenizer_config.json"))) as Record<
      string,
      unknown
    >;
  }
  const specialTokens: Record<string, string> = {};
  for (const field of SPECIAL_TOKEN_FIELDS) {
    const value = config[field];
    const content = typeof value === "string" ? value : (value as { content?: unknown } | undefined)?.content;
    if (typeof content === "string") specialTokens[field] = content;
  }
  const fromConfig = templateFromConfig(config["chat_template"], `${store.uri}/tokenizer_config.json`);
  if (fromConfig !== null) return { template: fromConfig, specialTokens };
  if (await store.head("chat_template.jinja")) {
    return { template: new TextDecoder().decode(await store.get("chat_template.jinja")), specialTokens };
  }
  return null;
}

function templateFromConfig(value: unknown, source: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => (t as { name?: unknown })?.name === "default") as
      | { template?: unknown }
      | undefined;
    if (typeof named?.template === "string") return named.template;
    throw new FormatError(`${source}: chat_template is a list without a "default" template`);
  }
  throw new FormatError(`${source}: chat_template must be a string or a list of {name, template}`);
}

/** Render the conversation; with `addGenerationPrompt` the text ends where the assistant's reply begins. */
export function applyChatTemplate(
  chat: ChatTemplate,
  messages: readonly ChatMessage[],
  options: { addGenerationPrompt?: boolean } = {},
): string {
  return new Template(chat.template).render({
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: options.addGenerationPrompt ?? true,
    ...chat.specialTokens,
  });
}
