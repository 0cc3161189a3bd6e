import type { KVCache } from "@llm/layers";
import { PretrainedArgumentError } from "../errors.js";
import type { GenerationOptions } from "../generation_config.js";
import type { Pretrained } from "../pretrained.js";
import { streamText } from "./stream.js";
import type { ApplyChatTemplateOptions, ChatMessage } from "./template.js";

export interface ChatOptions extends Omit<ApplyChatTemplateOptions, "addGenerationPrompt" | "continueFinalMessage">, GenerationOptions {
  /** A system message to open the conversation with. */
  system?: string;
  /** Messages so far (the session keeps its own copy). */
  messages?: readonly ChatMessage[];
}

/**
 * A conversation with a model: send() adds the user's message, renders the whole conversation with
 * the chat template, and streams the assistant's reply, which is then kept as the next message.
 * The KV cache is kept between turns: each turn feeds only the tokens the cache does not hold
 * (where a template renders earlier turns differently, the cache is cut back to the part that still
 * agrees).
 */
export class ChatSession {
  readonly messages: ChatMessage[];
  private cache: KVCache | null = null;
  /** The ids whose keys and values the cache holds, in order. */
  private cachedIds: number[] = [];
  private busy = false;

  constructor(
    readonly pretrained: Pretrained,
    private readonly options: ChatOptions = {},
  ) {
    this.messages = [...(options.system !== undefined ? [{ role: "system", content: options.system }] : []), ...(options.messages ?? [])];
  }

  /** Positions the KV cache holds (0 before the first reply). */
  get cachedLength(): number {
    return this.cache?.length ?? 0;
  }

  /**
   * Adds a message (a string is the user's) and streams the reply. Options given here override the
   * session's for this turn. Stopping early (break, or the abort signal) keeps the reply so far.
   */
  async *send(message: string | ChatMessage, options: GenerationOptions = {}): AsyncGenerator<string, void, undefined> {
    if (this.busy) throw new PretrainedArgumentError("ChatSession.send: a reply is still streaming; finish or stop it first");
    const sessionDType = this.options.cacheDType ?? "float32";
    if (options.cacheDType !== undefined && options.cacheDType !== sessionDType) {
      throw new PretrainedArgumentError(
        `ChatSession.send: cacheDType is the session's (${sessionDType}: its cache lives across turns), found ${options.cacheDType} for one turn`,
      );
    }
    this.busy = true;
    const added = typeof message === "string" ? { role: "user", content: message } : message;
    this.messages.push(added);
    const record = { ids: [] as number[], text: "" };
    let failed = false;
    let fed: { ids: number[]; cache: KVCache } | null = null;
    try {
      const { pretrained } = this;
      const ids = pretrained.tokenizeChat(this.messages, {
        tools: this.options.tools,
        documents: this.options.documents,
        variables: this.options.variables,
        addGenerationPrompt: true,
      });
      const cache = this.reuseCache(ids);
      fed = { ids, cache };
      const generation = pretrained.resolveGeneration(
        { ...pickGeneration(this.options), ...options },
        ids.length,
        pretrained.endOfTurnIds(),
      );
      const signal = options.signal ?? this.options.signal;
      yield* streamText(pretrained.model, pretrained.tokenizer, ids, generation, record, { cache, signal, skipSpecialTokens: true });
    } catch (error) {
      failed = true;
      // the cache may hold positions nobody recorded: the next turn starts afresh
      this.dropCache();
      if (record.text === "") this.messages.pop();
      else this.messages.push({ role: "assistant", content: record.text });
      throw error;
    } finally {
      // also reached when the caller stops reading early: the reply so far is kept
      if (!failed && fed) {
        this.cachedIds = [...fed.ids, ...record.ids].slice(0, fed.cache.length);
        this.messages.push({ role: "assistant", content: record.text });
      }
      this.busy = false;
    }
  }

  /** The whole reply as one string (send() collected). */
  async reply(message: string | ChatMessage, options: GenerationOptions = {}): Promise<string> {
    let text = "";
    for await (const piece of this.send(message, options)) text += piece;
    return text;
  }

  /** Forgets the conversation (the system message stays) and frees the cache. */
  reset(): void {
    const system = this.messages[0]?.role === "system" ? this.messages[0] : null;
    this.messages.length = 0;
    if (system) this.messages.push(system);
    this.dropCache();
  }

  /** Frees the KV cache. */
  dispose(): void {
    this.dropCache();
  }

  /** The cache, cut back to the longest prefix of `ids` it holds (leaving at least one id to feed). */
  private reuseCache(ids: readonly number[]): KVCache {
    if (!this.cache) {
      this.cache = this.newCache();
      this.cachedIds = [];
    }
    let keep = 0;
    const limit = Math.min(this.cache.length, this.cachedIds.length, ids.length - 1);
    while (keep < limit && this.cachedIds[keep] === ids[keep]) keep++;
    if (keep < this.cache.length) {
      if (this.cache.truncate) keep = this.cache.truncate(keep);
      else {
        this.cache.dispose();
        this.cache = this.newCache();
        keep = 0;
      }
    }
    this.cachedIds = this.cachedIds.slice(0, keep);
    return this.cache;
  }

  private newCache(): KVCache {
    return this.pretrained.model.createCache({ dtype: this.options.cacheDType });
  }

  private dropCache(): void {
    this.cache?.dispose();
    this.cache = null;
    this.cachedIds = [];
  }
}

function pickGeneration(options: ChatOptions): GenerationOptions {
  const { system: _s, messages: _m, tools: _t, documents: _d, variables: _v, ...generation } = options;
  return generation;
}
