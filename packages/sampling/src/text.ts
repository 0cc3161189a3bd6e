import type { LanguageModel } from "@llm/layers";
import { SamplingError } from "./errors.js";
import { checkGenerateOptions, generate, type GenerateOptions } from "./generate.js";
import { describeValue, OptionChecker } from "./options.js";
import { windowedDecoder } from "./windowed_decoder.js";

/** The part of a tokenizer that text generation needs (@llm/tokenizer's Tokenizer has this shape). */
export interface TextCodec {
  encode(text: string): readonly number[] | Int32Array | Uint32Array;
  decode(ids: readonly number[]): string;
  /**
   * A decoder that takes ids one at a time (as @llm/tokenizer's Tokenizer.decodeStream()). Without
   * it, generateText decodes a short window of ids per step with decode().
   */
  decodeStream?(): StreamingDecoder;
}

/** Decodes ids as they arrive. */
export interface StreamingDecoder {
  /** Adds one id; returns the text that became complete (never half of a character). */
  push(id: number): string;
  /** Ends the stream: what is left, with U+FFFD for an unfinished character. */
  flush?(): string;
}

export interface GenerateTextOptions extends GenerateOptions {
  /** Generation ends before the first occurrence of any of these; the stop string is not yielded. */
  stopStrings?: readonly string[];
}

/**
 * Streams the text that follows `prompt` (text, or token ids already encoded, e.g. a rendered chat
 * template's). Pieces never split a UTF-8 character (text ending in an
 * incomplete character, decoded as U+FFFD, is held back) and never emit the start of a possible
 * stop string until it is known not to be one.
 *
 * Each id is decoded once, incrementally (the codec's decodeStream(), or a short window of ids),
 * so the time spent decoding grows linearly with the length of the output.
 */
export async function* generateText(
  model: LanguageModel,
  tokenizer: TextCodec,
  prompt: string | readonly number[],
  options: GenerateTextOptions = {},
): AsyncGenerator<string, void, undefined> {
  const check = new OptionChecker("generateText", options);
  check.array("stopStrings", (s) => typeof s === "string", "strings");
  const isIds = Array.isArray(prompt) && prompt.every((id) => Number.isInteger(id) && id >= 0);
  if (typeof prompt !== "string" && !isIds) {
    throw new SamplingError(`generateText: prompt must be a string or an array of token ids, found ${describeValue(prompt)}`);
  }
  checkGenerateOptions(check, model.config.vocabSize);
  const promptIds = typeof prompt === "string" ? Array.from(tokenizer.encode(prompt)) : Array.from(prompt as readonly number[]);
  const stops = (options.stopStrings ?? []).filter((s) => s.length > 0);
  const longestStop = Math.max(0, ...stops.map((s) => s.length));
  // The decoder reads the prompt first, so a token that merges with the prompt's last characters
  // (a leading space, the rest of a character) decodes the way it would in the full text.
  const decoder = tokenizer.decodeStream?.() ?? windowedDecoder(tokenizer);
  for (const id of promptIds) decoder.push(id);
  // The continuation's text from some point on (text shown long ago is dropped) and how much of
  // it is shown. It only grows, so a stop string not found before can only be found where it
  // overlaps the new text: each search starts there.
  let text = "";
  let emitted = 0;
  for await (const id of generate(model, promptIds, options)) {
    const from = Math.max(0, text.length - longestStop + 1);
    text += decoder.push(id);
    const hit = firstStop(text, stops, from);
    if (hit >= 0) {
      if (hit > emitted) yield text.slice(emitted, hit);
      return;
    }
    const safe = safeLength(text, stops, emitted);
    if (safe > emitted) {
      yield text.slice(emitted, safe);
      emitted = safe;
    }
    // Shown text more than a stop string's length back is never looked at again.
    const drop = emitted - longestStop;
    if (drop > 0) {
      text = text.slice(drop);
      emitted -= drop;
    }
  }
  const from = Math.max(0, text.length - longestStop + 1);
  text += decoder.flush?.() ?? "";
  const hit = firstStop(text, stops, from);
  let end = hit >= 0 ? hit : text.length;
  if (hit < 0) while (end > emitted && text[end - 1] === "\uFFFD") end--;
  if (end > emitted) yield text.slice(emitted, end);
}

/** Collects a stream of text pieces (or ids) into one value. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

/** Where the first stop string in text begins (searching from `from`), or -1. */
function firstStop(text: string, stops: readonly string[], from: number): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/**
 * How much of text can be shown: not a trailing U+FFFD, not a suffix that begins a stop string.
 * Text up to `shown` is out already, so the answer only matters above it.
 */
function safeLength(text: string, stops: readonly string[], shown: number): number {
  let end = text.length;
  while (end > shown && text[end - 1] === "\uFFFD") end--;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, end); k > 0; k--) {
      if (text.slice(end - k, end) === s.slice(0, k)) {
        end -= k;
        break;
      }
    }
    // nothing more can be shown (and text far below `shown` may have been dropped)
    if (end <= shown) return shown;
  }
  return end;
}
