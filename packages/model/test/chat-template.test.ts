import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "@lethe/core";
import { afterAll, describe, expect, it } from "vitest";
import { applyChatTemplate, loadChatTemplate } from "../src/tokenizer/chat-template.js";

const dir = mkdtempSync(join(tmpdir(), "lethe-chat-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// OLMo-Instruct's layout: role markers, eos after assistant turns, the generation prompt last.
const OLMO_STYLE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + '\\n' }}" +
  "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '\\n' }}" +
  "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}{% endif %}" +
  "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}";

function store(name: string, files: Record<string, string>): FileStore {
  const s = new FileStore(join(dir, name));
  for (const [key, text] of Object.entries(files)) {
    const path = s.pathOf(key);
    rmSync(path, { force: true });
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(path, text);
  }
  return s;
}

describe("chat templates", () => {
  it("renders a conversation as apply_chat_template does, special tokens included", async () => {
    const s = store("olmo", {
      "tokenizer_config.json": JSON.stringify({
        bos_token: "<s>",
        eos_token: { content: "</s>" },
        chat_template: OLMO_STYLE,
      }),
    });
    const chat = (await loadChatTemplate(s))!;
    expect(chat.specialTokens).toEqual({ bos_token: "<s>", eos_token: "</s>" });
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Who?" },
      { role: "assistant", content: "Me." },
      { role: "user", content: "Why?" },
    ];
    expect(applyChatTemplate(chat, messages)).toBe(
      "<s><|system|>\nBe brief.\n<|user|>\nWho?\n<|assistant|>\nMe.</s>\n<|user|>\nWhy?\n<|assistant|>\n",
    );
    expect(applyChatTemplate(chat, messages.slice(0, 2), { addGenerationPrompt: false })).toBe(
      "<s><|system|>\nBe brief.\n<|user|>\nWho?\n",
    );
  });

  it("takes the default of a list of named templates, or chat_template.jinja, and is null without one", async () => {
    const listed = store("listed", {
      "tokenizer_config.json": JSON.stringify({
        chat_template: [
          { name: "tool_use", template: "tools" },
          { name: "default", template: "{% for m in messages %}[{{ m.content }}]{% endfor %}" },
        ],
      }),
    });
    expect(applyChatTemplate((await loadChatTemplate(listed))!, [{ role: "user", content: "x" }])).toBe(
      "[x]",
    );
    const file = store("file", { "chat_template.jinja": "{{ messages[0].content | upper }}" });
    expect(applyChatTemplate((await loadChatTemplate(file))!, [{ role: "user", content: "hey" }])).toBe(
      "HEY",
    );
    expect(await loadChatTemplate(store("none", { "tokenizer_config.json": "{}" }))).toBeNull();
    const bad = store("bad", {
      "tokenizer_config.json": JSON.stringify({ chat_template: [{ name: "x", template: "y" }] }),
    });
    await expect(loadChatTemplate(bad)).rejects.toThrow(
      'tokenizer_config.json: chat_template is a list without a "default" template',
    );
  });
});
