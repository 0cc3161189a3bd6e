import type { KVCache, LanguageModel } from "@llm/layers";
import { generateText, type StreamingDecoder, type TextCodec } from "@llm/sampling";
import type { Tokenizer } from "@llm/tokenizer";
import type { ResolvedGeneration } from "../generation_config.js";

/** What one generation gave: the ids (prompt excluded) besides the text that was streamed. */
export interface StreamRecord {
  ids: number[];
  text: string;
}

/**
 * generateText over prompt ids, recording the generated ids (the decoder sees the prompt's ids
 * first, then each generated id: those after the prompt are the reply's), checking the abort
 * signal between tokens, and decoding with special tokens skipped when asked.
 */
export async function* streamText(
  model: LanguageModel,
  tokenizer: Tokenizer,
  promptIds: readonly number[],
  generation: ResolvedGeneration,
  record: StreamRecord,
  options: { cache?: KVCache; signal?: AbortSignal; skipSpecialTokens?: boolean } = {},
): AsyncGenerator<string, void, undefined> {
  const pushed: number[] = [];
  const codec: TextCodec = {
    encode: (text) => tokenizer.encode(text),
    decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: options.skipSpecialTokens }),
    decodeStream(): StreamingDecoder {
      const inner = tokenizer.decodeStream({ skipSpecialTokens: options.skipSpecialTokens });
      return {
        push(id) {
          options.signal?.throwIfAborted();
          pushed.push(id);
          record.ids = pushed.slice(promptIds.length);
          return inner.push(id);
        },
        flush: () => inner.flush(),
      };
    },
  };
  if (generation.maxNewTokens === 0) return;
  options.signal?.throwIfAborted();
  // a given cache (a chat's) keeps its own dtype; otherwise generate makes one of cacheDType
  const { cacheDType, ...rest } = generation;
  const cacheOptions = options.cache ? { cache: options.cache } : { cacheDType };
  for await (const piece of generateText(model, codec, promptIds, { ...rest, ...cacheOptions })) {
    options.signal?.throwIfAborted();
    record.text += piece;
    yield piece;
  }
}
