import type { Normalizer } from "./normalizer.js";

export class LowercaseNormalizer implements Normalizer {
  normalize(text: string): string {
    return text.toLowerCase();
  }
  toJSON() {
    return { type: "Lowercase" };
  }
}
