import type { Normalizer } from "./normalizer.js";

/** Strips whitespace from the left and/or right of the text. */
export class StripNormalizer implements Normalizer {
  constructor(
    readonly left: boolean,
    readonly right: boolean,
  ) {}
  normalize(text: string): string {
    if (this.left) text = text.replace(/^\p{White_Space}+/u, "");
    if (this.right) text = text.replace(/\p{White_Space}+$/u, "");
    return text;
  }
  toJSON() {
    return { type: "Strip", strip_left: this.left, strip_right: this.right };
  }
}
