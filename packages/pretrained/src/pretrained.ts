import type { Model } from "@llm/models";
import type { EncodeOptions, Tokenizer } from "@llm/tokenizer";
import { ChatSession, type ChatOptions } from "./chat/session.js";
import { streamText } from "./chat/stream.js";
import { ChatTemplate, pickTemplate, type ApplyChatTemplateOptions, type ChatMessage } from "./chat/template.js";
import { PretrainedError } from "./errors.js";
import { resolveGeneration, type GenerationConfig, type GenerationOptions, type ResolvedGeneration } from "./generation_config.js";
import { cleanUpTokenization, templateTokens, type TokenizerConfig } from "./tokenizer_config.js";

export interface ApplyChatTemplateNamedOptions extends ApplyChatTemplateOptions {
  /** Which of the tokenizer's named templates (default: "tool_use" when tools are given and it has one, else "default"). */
  templateName?: string;
}

/**
 * A loaded model with what it came with: tokenizer, tokenizer_config.json, generation_config.json
 * and chat template(s). What loadPretrained returns.
 */
export class Pretrained {
  private readonly compiled = new Map<string, ChatTemplate>();

  constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    /** config.json as read. */
    readonly config: Readonly<Record<string, unknown>>,
    readonly tokenizerConfig: TokenizerConfig | null,
    readonly generationConfig: GenerationConfig,
    /** Chat templates by name ("default" for a single one): tokenizer_config.json's, or chat_template.jinja's. */
    readonly chatTemplates: Readonly<Record<string, string>>,
    /** Where it was loaded from (a folder, a URL). */
    readonly location: string,
    private readonly lifecycle: { onDispose?: () => void } = {},
  ) {}

  /** The model's default chat template, or null when it has none. */
  get chatTemplate(): ChatTemplate | null {
    const source = pickTemplate(this.chatTemplates, undefined, false);
    return source === null ? null : this.compile(source);
  }

  /** Token ids of text, with the special tokens the tokenizer adds (e.g. bos, as tokenizer_config.json says) unless told not to. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, options);
  }

  /** Text of ids; clean_up_tokenization_spaces applies as transformers 5 applies it (to BPE tokenizers only with its "even though it will corrupt" flag). */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const text = this.tokenizer.decode(ids, options);
    const config = this.tokenizerConfig;
    return config?.cleanUpTokenizationSpaces && config.cleanUpForBpe ? cleanUpTokenization(text) : text;
  }

  /** The conversation rendered with the chat template, as text. */
  applyChatTemplate(messages: readonly ChatMessage[], options: ApplyChatTemplateNamedOptions = {}): string {
    const source = pickTemplate(this.chatTemplates, options.templateName, (options.tools?.length ?? 0) > 0);
    if (source === null) {
      throw new PretrainedError(
        `${this.location}: no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja); this model is not a chat model, or give one: new ChatTemplate(source)`,
      );
    }
    return this.compile(source).render(messages, options);
  }

  /** The rendered conversation's token ids (encoded without adding special tokens: the template has them, as in transformers). */
  tokenizeChat(messages: readonly ChatMessage[], options: ApplyChatTemplateNamedOptions = {}): number[] {
    return this.tokenizer.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }

  /** Streams the text that follows a prompt (text, encoded with special tokens, or ids), with generation_config's defaults and stop tokens. */
  async *generate(prompt: string | readonly number[], options: GenerationOptions = {}): AsyncGenerator<string, void, undefined> {
    const ids = typeof prompt === "string" ? this.encode(prompt) : [...prompt];
    const generation = this.resolveGeneration(options, ids.length);
    yield* streamText(this.model, this.tokenizer, ids, generation, { ids: [], text: "" }, { signal: options.signal });
  }

  /** A conversation that streams replies and keeps the KV cache between turns. */
  chat(options: ChatOptions = {}): ChatSession {
    return new ChatSession(this, options);
  }

  /** The caller's options over generation_config.json's, as @llm/sampling takes them. */
  resolveGeneration(options: GenerationOptions, promptLength: number, extraStops: readonly number[] = []): ResolvedGeneration {
    return resolveGeneration(this.generationConfig, options, this.model.config, promptLength, extraStops);
  }

  /** The tokenizer's eos token (a chat turn ends there even where generation_config.json does not list it). */
  endOfTurnIds(): number[] {
    const eos = this.tokenizerConfig?.specialTokens.eos_token;
    const id = eos === undefined ? undefined : this.tokenizer.tokenToId(eos);
    return id === undefined ? [] : [id];
  }

  /** Frees the model's weights (and stops the threads of a CPU backend loadPretrained made for it: options.threads). */
  dispose(): void {
    this.model.dispose();
    this.lifecycle.onDispose?.();
  }

  private compile(source: string): ChatTemplate {
    let template = this.compiled.get(source);
    if (!template) {
      template = new ChatTemplate(source, templateTokens(this.tokenizerConfig), `${this.location}: chat template`);
      this.compiled.set(source, template);
    }
    return template;
  }
}
