import type { Normalizer } from "./normalizer.js";

export type UnicodeForm = "NFC" | "NFD" | "NFKC" | "NFKD";

/** Unicode normalization form (NFC, NFD, NFKC, NFKD). */
export class UnicodeNormalizer implements Normalizer {
  constructor(readonly form: UnicodeForm) {}
  normalize(text: string): string {
    return text.normalize(this.form);
  }
  toJSON() {
    return { type: this.form };
  }
}
