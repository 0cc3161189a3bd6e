import { TokenizerError, describe } from "../utils/errors.js";
import type { PostProcessor } from "./post_processor.js";

type Piece = { SpecialToken: { id: string; type_id?: number } } | { Sequence: { id: "A" | "B"; type_id?: number } };

/** Hugging Face TemplateProcessing: e.g. `<bos> $A` for one sequence, `<bos> $A <bos> $B` for a pair. */
export class TemplateProcessing implements PostProcessor {
  private readonly specialIds: Map<string, number[]>;
  constructor(
    readonly single: Piece[],
    readonly pair: Piece[],
    readonly specialTokens: Record<string, { id: string; ids: number[]; tokens: string[] }>,
    path = "post_processor",
  ) {
    this.specialIds = new Map(Object.entries(specialTokens).map(([k, v]) => [k, v.ids]));
    for (const [name, list] of [
      ["single", single],
      ["pair", pair],
    ] as const) {
      list.forEach((p, i) => {
        if ("SpecialToken" in p) {
          if (!this.specialIds.has(p.SpecialToken.id))
            throw new TokenizerError(
              `${path}.${name}[${i}]: special token ${JSON.stringify(p.SpecialToken.id)} is not in ${path}.special_tokens`,
            );
        } else if (!("Sequence" in p)) {
          throw new TokenizerError(`${path}.${name}[${i}]: expected {"SpecialToken": ...} or {"Sequence": ...}, found ${describe(p)}`);
        }
      });
    }
  }
  process(a: number[], b: number[] | null, addSpecialTokens: boolean): number[] {
    if (!addSpecialTokens) return b ? a.concat(b) : a;
    const out: number[] = [];
    for (const p of b ? this.pair : this.single) {
      if ("SpecialToken" in p) out.push(...this.specialIds.get(p.SpecialToken.id)!);
      else for (const id of p.Sequence.id === "A" ? a : b!) out.push(id);
    }
    return out;
  }
  toJSON() {
    return { type: "TemplateProcessing", single: this.single, pair: this.pair, special_tokens: this.specialTokens };
  }
}
