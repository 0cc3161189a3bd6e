import { TrainError } from "../errors.js";
import type { SftExample } from "./dataset.js";
import { conversationSegments, plainFormatter, type ConversationFormatter, type TextSegment } from "./format.js";

/** What SFT needs of a tokenizer (an @llm/tokenizer Tokenizer is one). */
export interface SftTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): ArrayLike<number>;
}

/** An example as tokens, with which of them the loss learns (the assistant's, the completion's). */
export interface TokenizedExample {
  readonly ids: readonly number[];
  /** true where the token is one the model learns to produce. */
  readonly train: readonly boolean[];
}

export interface TokenizeSftOptions {
  tokenizer: SftTokenizer;
  /** How conversations become text (default plainFormatter(); a chat template plugs in here). */
  formatter?: ConversationFormatter;
  /** Put before every example, not trained (the tokenizer's BOS, when its model expects one). */
  bosId?: number;
  /** Put after the last trained text and trained, so the model learns to stop (TRL appends EOS too). */
  eosId?: number;
  /** Cut examples to this many tokens (from the end; TRL's truncation side "right"). */
  maxLength?: number;
}

/**
 * Formats an example (a conversation through the formatter, a prompt-completion pair as the two
 * strings one after the other), then tokenizes it segment by segment, so each token belongs to
 * exactly one segment and is trained or not as its segment is.
 */
export function tokenizeSft(example: SftExample, options: TokenizeSftOptions): TokenizedExample {
  const segments: TextSegment[] =
    example.kind === "chat"
      ? conversationSegments(options.formatter ?? plainFormatter(), example.messages)
      : [
          { text: example.prompt, train: false },
          { text: example.completion, train: true },
        ];
  const ids: number[] = [];
  const train: boolean[] = [];
  if (options.bosId !== undefined) {
    ids.push(options.bosId);
    train.push(false);
  }
  for (const s of segments) {
    if (s.text === "") continue;
    for (const id of Array.from(options.tokenizer.encode(s.text, { addSpecialTokens: false }))) {
      ids.push(id);
      train.push(s.train);
    }
  }
  if (options.eosId !== undefined) {
    ids.push(options.eosId);
    train.push(segments.filter((s) => s.text !== "").at(-1)?.train ?? false);
  }
  const max = options.maxLength;
  if (max !== undefined) {
    if (!Number.isInteger(max) || max < 2) throw new TrainError(`tokenizeSft: maxLength must be an integer >= 2, got ${String(max)}`);
    ids.length = Math.min(ids.length, max);
    train.length = ids.length;
  }
  return { ids, train };
}
