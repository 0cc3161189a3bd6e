import type { StreamingDecoder, TextCodec } from "./text.js";

/** Ids a window may hold while its text ends in an unfinished character (bounds each decode). */
const MAX_PENDING = 64;

/**
 * A StreamingDecoder for a codec that only decodes whole lists of ids. Each step decodes the ids
 * since the window last ended in whole characters, behind the ids before that point as context
 * (so a leading space or the rest of a character decodes as in the full text), and returns what
 * was added up to any unfinished character (a trailing U+FFFD). Every step decodes a bounded
 * number of ids, so a whole generation costs time linear in its length.
 *
 * A window whose text still ends in U+FFFD after MAX_PENDING ids is closed as it is.
 */
export function windowedDecoder(codec: Pick<TextCodec, "decode">, maxPending = MAX_PENDING): StreamingDecoder {
  let context: number[] = [];
  let contextText = "";
  let pending: number[] = [];
  /** how much of the pending ids' text has been returned */
  let shown = 0;
  const reset = (ids: number[]) => {
    context = ids;
    contextText = codec.decode(ids);
    pending = [];
    shown = 0;
  };
  return {
    push(id: number): string {
      pending.push(id);
      const text = codec.decode([...context, ...pending]).slice(contextText.length);
      let end = text.length;
      while (end > shown && text[end - 1] === "\uFFFD") end--;
      // Whole characters and some text: the next window starts after these ids. (Ids that add no
      // text stay in the window, so the context keeps a token that shapes what follows.)
      const whole = end === text.length && text.length > 0;
      if (whole || pending.length >= maxPending) {
        const added = text.slice(shown);
        reset(pending);
        return added;
      }
      const added = end > shown ? text.slice(shown, end) : "";
      shown = Math.max(shown, end);
      return added;
    },
    flush(): string {
      const added = pending.length ? codec.decode([...context, ...pending]).slice(contextText.length + shown) : "";
      context = [];
      contextText = "";
      pending = [];
      shown = 0;
      return added;
    },
  };
}
