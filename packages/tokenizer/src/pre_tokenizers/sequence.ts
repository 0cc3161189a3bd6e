import type { PreTokenizer } from "./pre_tokenizer.js";

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
  toJSON() {
    return { type: "Sequence", pretokenizers: this.preTokenizers.map((p) => p.toJSON()) };
  }
}
