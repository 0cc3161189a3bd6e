import type { Normalizer } from "./normalizer.js";

/** Prepends a string to non-empty text (SentencePiece's "▁" prefix). */
export class PrependNormalizer implements Normalizer {
  constructor(readonly prepend: string) {}
  normalize(text: string): string {
    return text.length === 0 ? text : this.prepend + text;
  }
  toJSON() {
    return { type: "Prepend", prepend: this.prepend };
  }
}
