import type { FastSplit, PreTokenizer } from "./pre_tokenizer.js";
import { ByteLevelPreTokenizer } from "./byte_level.js";
import { SplitPreTokenizer } from "./split.js";

export class SequencePreTokenizer implements PreTokenizer {
  constructor(readonly preTokenizers: PreTokenizer[]) {}
  split(text: string, out: string[], first: boolean): void {
    let pieces = [text];
    for (const p of this.preTokenizers) {
      const next: string[] = [];
      for (let i = 0; i < pieces.length; i++) p.split(pieces[i]!, next, first && i === 0);
      pieces = next;
    }
    for (const p of pieces) out.push(p);
  }

  /**
   * The one pre-tokenizer's fast split when the sequence holds only one; for a regex Split then a
   * ByteLevel that passes its pieces through (tiktoken, cl100k-style tokenizer.json), the Split's.
   */
  fastSplit(): FastSplit | null {
    const flat = flattenPreTokenizers(this);
    if (flat.length === 1) return flat[0]!.fastSplit?.() ?? null;
    const [first, last] = flat;
    if (flat.length === 2 && first instanceof SplitPreTokenizer && last instanceof ByteLevelPreTokenizer && last.passesPiecesThrough)
      return first.regexSplit();
    return null;
  }

  toJSON() {
    return { type: "Sequence", pretokenizers: this.preTokenizers.map((p) => p.toJSON()) };
  }
}

/** The pre-tokenizers of a (possibly nested) Sequence, in order. */
export function flattenPreTokenizers(p: PreTokenizer | null): PreTokenizer[] {
  if (p === null) return [];
  if (p instanceof SequencePreTokenizer) return p.preTokenizers.flatMap(flattenPreTokenizers);
  return [p];
}
