import type { LanguageModel } from "@llm/layers";
import { generate, type GenerateOptions } from "./generate.js";

/** The part of a tokenizer that text generation needs (@llm/tokenizer's Tokenizer has this shape). */
export interface TextCodec {
  encode(text: string): readonly number[] | Int32Array | Uint32Array;
  decode(ids: readonly number[]): string;
}

export interface GenerateTextOptions extends GenerateOptions {
  /** Generation ends before the first occurrence of any of these; the stop string is not yielded. */
  stopStrings?: readonly string[];
}

/**
 * Streams the text that follows `prompt`. Pieces never split a UTF-8 character (text ending in an
 * incomplete character, decoded as U+FFFD, is held back) and never emit the start of a possible
 * stop string until it is known not to be one.
 */
export async function* generateText(
  model: LanguageModel,
  tokenizer: TextCodec,
  prompt: string,
  options: GenerateTextOptions = {},
): AsyncGenerator<string, void, undefined> {
  const promptIds = Array.from(tokenizer.encode(prompt));
  const stops = (options.stopStrings ?? []).filter((s) => s.length > 0);
  // Decode prompt + continuation and cut the prompt's text off, so a token that merges with the
  // prompt's last characters decodes the way it would in the full text.
  const promptText = tokenizer.decode(promptIds);
  const ids = [...promptIds];
  let emitted = 0;
  for await (const id of generate(model, promptIds, options)) {
    ids.push(id);
    const text = tokenizer.decode(ids).slice(promptText.length);
    const hit = firstStop(text, stops);
    if (hit >= 0) {
      if (hit > emitted) yield text.slice(emitted, hit);
      return;
    }
    const safe = safeLength(text, stops);
    if (safe > emitted) {
      yield text.slice(emitted, safe);
      emitted = safe;
    }
  }
  const text = tokenizer.decode(ids).slice(promptText.length).replace(/\uFFFD+$/, "");
  if (text.length > emitted) yield text.slice(emitted);
}

/** Collects a stream of text pieces (or ids) into one value. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** How much of text can be shown: not a trailing U+FFFD, not a suffix that begins a stop string. */
function safeLength(text: string, stops: readonly string[]): number {
  let end = text.length;
  while (end > 0 && text[end - 1] === "\uFFFD") end--;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > 0; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        end -= k;
        break;
      }
    }
  }
  return end;
}
