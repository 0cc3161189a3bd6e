import type { PostProcessor } from "./post_processor.js";

/** ByteLevel post-processing only trims offsets; ids are unchanged. */
export class ByteLevelPostProcessor implements PostProcessor {
  constructor(readonly json: Record<string, unknown>) {}
  process(a: number[], b: number[] | null): number[] {
    return b ? a.concat(b) : a;
  }
  toJSON() {
    return this.json;
  }
}

/** BERT / RoBERTa: `cls A sep` and `cls A sep (sep) B sep`. */
export class ClsSepPostProcessor implements PostProcessor {
  constructor(
    readonly type: "BertProcessing" | "RobertaProcessing",
    readonly cls: [string, number],
    readonly sep: [string, number],
    readonly json: Record<string, unknown>,
  ) {}
  addedIds(): number[] {
    return [this.cls[1], this.sep[1]];
  }
  process(a: number[], b: number[] | null, add: boolean): number[] {
    if (!add) return b ? a.concat(b) : a;
    const out = [this.cls[1], ...a, this.sep[1]];
    if (b) {
      if (this.type === "RobertaProcessing") out.push(this.sep[1]);
      out.push(...b, this.sep[1]);
    }
    return out;
  }
  toJSON() {
    return this.json;
  }
}

export class SequencePostProcessor implements PostProcessor {
  constructor(readonly processors: PostProcessor[]) {}
  addedIds(): number[] {
    return this.processors.flatMap((p) => p.addedIds?.() ?? []);
  }
  process(a: number[], b: number[] | null, add: boolean): number[] {
    let pairDone = false;
    for (const p of this.processors) {
      a = p.process(a, pairDone ? null : b, add);
      pairDone = true;
    }
    return this.processors.length === 0 && b ? a.concat(b) : a;
  }
  toJSON() {
    return { type: "Sequence", processors: this.processors.map((p) => p.toJSON()) };
  }
}
