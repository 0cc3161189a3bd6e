// generateText as it was before it decoded incrementally: every step re-decodes the prompt and the
// whole continuation and cuts the prompt's text off. The incremental version must give the same
// pieces; this one is kept only as the reference the tests compare against.
import type { LanguageModel } from "@llm/layers";
import { generate, type GenerateTextOptions, type TextCodec } from "../src/index.js";

export async function* fullRedecodeText(
  model: LanguageModel,
  tokenizer: TextCodec,
  prompt: string,
  options: GenerateTextOptions = {},
): AsyncGenerator<string, void, undefined> {
  const promptIds = Array.from(tokenizer.encode(prompt));
  const stops = (options.stopStrings ?? []).filter((s) => s.length > 0);
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
  const text = tokenizer
    .decode(ids)
    .slice(promptText.length)
    .replace(/\uFFFD+$/, "");
  if (text.length > emitted) yield text.slice(emitted);
}

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

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
