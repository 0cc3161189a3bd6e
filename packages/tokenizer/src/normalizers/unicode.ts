import type { Normalizer } from "./normalizer.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: the range starts at U+0000 on purpose (all of Latin, controls included)
const BEYOND_LATIN = /[^\u0000-\u02ff]/;

export type UnicodeForm = "NFC" | "NFD" | "NFKC" | "NFKD";

/** Unicode normalization form (NFC, NFD, NFKC, NFKD). */
export class UnicodeNormalizer implements Normalizer {
  constructor(readonly form: UnicodeForm) {}
  normalize(text: string): string {
    // text below U+0300 has nothing to compose: NFC leaves it as it is
    if (this.form === "NFC" && !BEYOND_LATIN.test(text)) return text;
    return text.normalize(this.form);
  }
  toJSON() {
    return { type: this.form };
  }
}
