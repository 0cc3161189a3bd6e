import { TrainError } from "../errors.js";
import type { ChatMessage } from "./dataset.js";
import { plainFormatter, type ConversationFormatter } from "./format.js";
import type { SftTokenizer, TokenizedExample } from "./tokenize.js";

/** A prompt with a preferred and a dispreferred response: strings, or message lists (TRL's two forms). */
export type PreferencePair =
  | { prompt: string; chosen: string; rejected: string }
  | { prompt: ChatMessage[]; chosen: ChatMessage[]; rejected: ChatMessage[] };

/**
 * One record of a preference dataset: `{"prompt", "chosen", "rejected"}`, all strings or all
 * message lists (the chosen/rejected lists hold the assistant's reply). `where` is named in errors.
 */
export function preferencePair(record: unknown, where = "pair"): PreferencePair {
  const r = (record ?? {}) as Record<string, unknown>;
  const { prompt, chosen, rejected } = r;
  if (typeof prompt === "string" && typeof chosen === "string" && typeof rejected === "string") return { prompt, chosen, rejected };
  if (Array.isArray(prompt) && Array.isArray(chosen) && Array.isArray(rejected)) {
    const list = (v: unknown[], name: string) =>
      v.map((m, i) => {
        const { role, content } = (m ?? {}) as Record<string, unknown>;
        if (typeof role !== "string" || typeof content !== "string") {
          throw new TrainError(`${where}: ${name}[${i}]: expected {"role": string, "content": string}`);
        }
        return { role, content };
      });
    return { prompt: list(prompt, "prompt"), chosen: list(chosen, "chosen"), rejected: list(rejected, "rejected") };
  }
  throw new TrainError(
    `${where}: expected "prompt", "chosen" and "rejected", all strings or all message lists, found ${["prompt", "chosen", "rejected"]
      .map((k) => `${k}: ${r[k] === undefined ? "nothing" : Array.isArray(r[k]) ? "a list" : typeof r[k]}`)
      .join(", ")}`,
  );
}

/** A pair as tokens: both sequences start with the same prompt; only the response tokens are trained. */
export interface TokenizedPair {
  chosen: TokenizedExample;
  rejected: TokenizedExample;
  /** The reference model's log-probabilities of each response, when computed ahead (precomputeReferenceLogProbs). */
  referenceChosen?: number;
  referenceRejected?: number;
}

export interface TokenizePairOptions {
  tokenizer: SftTokenizer;
  /** How message lists become text (default plainFormatter(); a chat template plugs in here). */
  formatter?: ConversationFormatter;
  bosId?: number;
  /** Appended to each response (and scored with it). */
  eosId?: number;
  /** Cut each sequence to this many tokens (the prompt first keeps its tokens). */
  maxLength?: number;
}

/** Tokenizes the prompt once and each response after it (its tokens are the ones scored). */
export function tokenizePair(pair: PreferencePair, options: TokenizePairOptions): TokenizedPair {
  const encode = (text: string) => Array.from(options.tokenizer.encode(text, { addSpecialTokens: false }));
  let promptText: string;
  let responses: [string, string];
  if (typeof pair.prompt === "string") {
    promptText = pair.prompt;
    responses = [pair.chosen as string, pair.rejected as string];
  } else {
    const formatter = options.formatter ?? plainFormatter();
    const prompt = pair.prompt;
    promptText = formatter.render(prompt, { addGenerationPrompt: true });
    responses = [pair.chosen as ChatMessage[], pair.rejected as ChatMessage[]].map((reply) => {
      const full = formatter.render([...prompt, ...reply], { addGenerationPrompt: false });
      if (!full.startsWith(promptText)) {
        throw new TrainError("tokenizePair: the formatter does not render prompt + reply as the prompt followed by the reply");
      }
      return full.slice(promptText.length);
    }) as [string, string];
  }
  const promptIds = [...(options.bosId !== undefined ? [options.bosId] : []), ...encode(promptText)];
  const sequence = (response: string): TokenizedExample => {
    const ids = [...promptIds, ...encode(response), ...(options.eosId !== undefined ? [options.eosId] : [])];
    const train = ids.map((_, i) => i >= promptIds.length);
    const max = options.maxLength ?? ids.length;
    return { ids: ids.slice(0, max), train: train.slice(0, max) };
  };
  const chosen = sequence(responses[0]);
  const rejected = sequence(responses[1]);
  if (!chosen.train.some(Boolean) || !rejected.train.some(Boolean)) {
    throw new TrainError(
      `tokenizePair: a response has no tokens left after the prompt (${promptIds.length} tokens) and maxLength ${options.maxLength}`,
    );
  }
  return { chosen, rejected };
}
