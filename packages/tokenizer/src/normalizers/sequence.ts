import type { Normalizer } from "./normalizer.js";

export class SequenceNormalizer implements Normalizer {
  constructor(readonly normalizers: Normalizer[]) {}
  normalize(text: string): string {
    for (const n of this.normalizers) text = n.normalize(text);
    return text;
  }
  toJSON() {
    return { type: "Sequence", normalizers: this.normalizers.map((n) => n.toJSON()) };
  }
}
