import { Template } from "@huggingface/jinja";
import { ChatTemplateError, PretrainedArgumentError } from "../errors.js";

/** One message of a conversation, as chat templates read it (role and content, and whatever else a template uses). */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool" | (string & {});
  /** Text, or a list of parts ({type: "text", text}) for templates that take them; null for an assistant turn that only calls tools. */
  content: string | readonly Record<string, unknown>[] | null;
  /** An assistant's tool calls: [{type: "function", function: {name, arguments}}]. */
  tool_calls?: readonly Record<string, unknown>[];
  [key: string]: unknown;
}

export interface ApplyChatTemplateOptions {
  /** End with the tokens that open an assistant turn (default false, as in transformers). */
  addGenerationPrompt?: boolean;
  /** Tools as JSON schemas ({type: "function", function: {name, description, parameters}}), for templates that take them. */
  tools?: readonly Record<string, unknown>[];
  /** Documents for retrieval-augmented templates. */
  documents?: readonly Record<string, unknown>[];
  /** Leave the last message open so the model continues it (no end-of-turn), as transformers' continue_final_message. */
  continueFinalMessage?: boolean;
  /** More template variables (e.g. enable_thinking for Qwen3). */
  variables?: Readonly<Record<string, unknown>>;
}

/** The name calls to raise_exception are given in a parsed template. */
const RAISE = "__llm_raise_exception";

/** Renames every Identifier node `from` in a parsed template. */
function renameIdentifier(node: unknown, from: string, to: string): void {
  if (Array.isArray(node)) {
    for (const child of node) renameIdentifier(child, from, to);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const record = node as Record<string, unknown>;
  if (record.type === "Identifier" && record.value === from) record.value = to;
  for (const value of Object.values(record)) if (typeof value === "object") renameIdentifier(value, from, to);
}

/** The marker transformers appends to the final message to find where it ends in the rendering. */
const CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG ";

/**
 * A model's chat template (Jinja, from tokenizer_config.json or chat_template.jinja), rendered
 * with @huggingface/jinja as transformers renders it: trim_blocks and lstrip_blocks, the
 * tokenizer's special tokens (bos_token, eos_token, ...) as variables, raise_exception and
 * strftime_now available.
 */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    /** The Jinja source. */
    readonly source: string,
    /** Variables every rendering gets: the tokenizer's special tokens as strings. */
    readonly tokens: Readonly<Record<string, string>> = {},
    /** Where the template came from, for messages. */
    readonly origin = "chat template",
  ) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new ChatTemplateError(`${origin}: cannot parse the template: ${(error as Error).message}`);
    }
    // @huggingface/jinja's own raise_exception throws a plain Error, like any rendering failure:
    // calls to it are pointed at ours, which says the template raised (the name stays free in
    // string literals: this renames identifiers in the parsed template, not text)
    renameIdentifier(this.template.parsed, "raise_exception", RAISE);
  }

  /** The conversation as the text the model reads. */
  render(messages: readonly ChatMessage[], options: ApplyChatTemplateOptions = {}): string {
    checkMessages(messages);
    if (options.continueFinalMessage && options.addGenerationPrompt) {
      throw new PretrainedArgumentError("applyChatTemplate: continueFinalMessage and addGenerationPrompt cannot both be set");
    }
    let chat = messages;
    let finalText: string | null = null;
    if (options.continueFinalMessage) {
      const last = messages.at(-1)!;
      if (typeof last.content !== "string") {
        throw new PretrainedArgumentError("applyChatTemplate: continueFinalMessage needs the last message's content to be text");
      }
      finalText = last.content;
      chat = [...messages.slice(0, -1), { ...last, content: last.content + CONTINUE_TAG }];
    }
    let text: string;
    try {
      text = this.template.render({
        ...this.tokens,
        ...options.variables,
        messages: structuredClone(chat),
        tools: options.tools ? structuredClone(options.tools) : null,
        documents: options.documents ? structuredClone(options.documents) : null,
        add_generation_prompt: options.addGenerationPrompt ?? false,
        [RAISE]: (message: unknown) => {
          throw new ChatTemplateError(`${this.origin}: the template raised: ${String(message)}`);
        },
      });
    } catch (error) {
      if (error instanceof ChatTemplateError) throw error;
      throw new ChatTemplateError(`${this.origin}: cannot render: ${(error as Error).message}`);
    }
    if (finalText === null) return text;
    // as transformers: cut the rendering where the final message ends
    const at = text.lastIndexOf(CONTINUE_TAG.trim());
    if (at < 0 || !text.includes(finalText.trim())) {
      throw new ChatTemplateError(`${this.origin}: continueFinalMessage: the template does not keep the final message as given`);
    }
    return text.slice(at, at + CONTINUE_TAG.length) === CONTINUE_TAG ? text.slice(0, at) : text.slice(0, at).trimEnd();
  }
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new PretrainedArgumentError(
      `applyChatTemplate: expected a non-empty array of messages, found ${JSON.stringify(messages)?.slice(0, 60)}`,
    );
  }
  messages.forEach((m, i) => {
    if (typeof m !== "object" || m === null || typeof m.role !== "string" || !("content" in m)) {
      throw new PretrainedArgumentError(
        `applyChatTemplate: message ${i}: expected {role, content}, found ${JSON.stringify(m)?.slice(0, 80)}`,
      );
    }
  });
}

/** transformers' choice among named templates: "tool_use" when tools are given and it exists, else "default", else the only one. */
export function pickTemplate(templates: Readonly<Record<string, string>>, name: string | undefined, tools: boolean): string | null {
  const names = Object.keys(templates);
  if (names.length === 0) return null;
  if (name !== undefined) {
    const t = templates[name];
    if (t === undefined)
      throw new PretrainedArgumentError(`chat template: expected one of ${names.join(", ")}, found ${JSON.stringify(name)}`);
    return t;
  }
  if (tools && templates.tool_use !== undefined) return templates.tool_use;
  if (templates.default !== undefined) return templates.default;
  if (names.length === 1) return templates[names[0]!]!;
  throw new PretrainedArgumentError(
    `chat template: the tokenizer has several (${names.join(", ")}) and none named "default"; pass templateName`,
  );
}
