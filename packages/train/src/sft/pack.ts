import { checkNumber } from "../errors.js";
import type { TokenizedExample } from "./tokenize.js";

/** Ignored targets (torch's ignore_index). */
export const IGNORE_INDEX = -100;

/**
 * One training row of seqLen tokens holding one or more whole examples. An example's tokens see
 * only its own earlier tokens (segments), its positions start at 0, and each target is the next
 * token of the same example where that token is trained, else IGNORE_INDEX; padding is segment 0.
 */
export interface PackedRow {
  readonly ids: Int32Array;
  readonly targets: Int32Array;
  readonly positions: Int32Array;
  /** 1, 2, ... per example in the row; 0 for padding. */
  readonly segments: Int32Array;
}

export interface PackOptions {
  seqLen: number;
  /** The id padding takes (never a target). */
  padId: number;
  /**
   * "bfd" (default): best-fit decreasing, as TRL packs: longest examples first, each into the row
   * with the least room that still fits it. "none": one example per row, padded.
   */
  strategy?: "bfd" | "none";
}

export interface PackResult {
  rows: PackedRow[];
  /** Examples cut to seqLen tokens. */
  truncated: number;
  /** Real tokens / row tokens. */
  fill: number;
  /** Targets the loss counts. */
  targets: number;
}

/** Packs tokenized examples into rows of seqLen tokens (examples longer than that are cut). */
export function packExamples(examples: readonly TokenizedExample[], options: PackOptions): PackResult {
  const { seqLen, padId } = options;
  checkNumber("packExamples", "seqLen", seqLen, (v) => Number.isInteger(v) && v >= 2, "an integer >= 2");
  checkNumber("packExamples", "padId", padId, (v) => Number.isInteger(v) && v >= 0, "a token id (an integer >= 0)");
  let truncated = 0;
  const lengths = examples.map((e) => {
    if (e.ids.length > seqLen) truncated++;
    return Math.min(e.ids.length, seqLen);
  });
  const bins: number[][] = [];
  if (options.strategy === "none") {
    examples.forEach((_, i) => bins.push([i]));
  } else {
    const room: number[] = [];
    const order = examples.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
    for (const i of order) {
      let best = -1;
      for (let b = 0; b < bins.length; b++) if (room[b]! >= lengths[i]! && (best < 0 || room[b]! < room[best]!)) best = b;
      if (best < 0) {
        bins.push([]);
        room.push(seqLen);
        best = bins.length - 1;
      }
      bins[best]!.push(i);
      room[best]! -= lengths[i]!;
    }
  }
  let real = 0;
  let targets = 0;
  const rows = bins.map((members) => {
    const row: PackedRow = {
      ids: new Int32Array(seqLen).fill(padId),
      targets: new Int32Array(seqLen).fill(IGNORE_INDEX),
      positions: new Int32Array(seqLen),
      segments: new Int32Array(seqLen),
    };
    let at = 0;
    members.forEach((i, k) => {
      const { ids, train } = examples[i]!;
      const n = lengths[i]!;
      for (let t = 0; t < n; t++) {
        row.ids[at + t] = ids[t]!;
        row.positions[at + t] = t;
        row.segments[at + t] = k + 1;
        // The next token of this example, if it is one the model learns; the last predicts nothing.
        if (t + 1 < n && train[t + 1]) {
          row.targets[at + t] = ids[t + 1]!;
          targets++;
        }
      }
      at += n;
    });
    for (let t = at; t < seqLen; t++) row.positions[t] = t - at;
    real += at;
    return row;
  });
  return { rows, truncated, fill: rows.length ? real / (rows.length * seqLen) : 0, targets };
}
