import { TokenizerError, describe } from "../utils/errors.js";

export type SplitBehavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";
const BEHAVIORS: readonly SplitBehavior[] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

export function parseBehavior(v: unknown, path: string): SplitBehavior {
  if (typeof v === "string" && (BEHAVIORS as readonly string[]).includes(v)) return v as SplitBehavior;
  throw new TokenizerError(`${path}: expected one of ${BEHAVIORS.join(", ")}, found ${describe(v)}`);
}

/**
 * Applies a split behavior to `text`, given the [start, end) ranges that matched (sorted, not
 * overlapping), the way Hugging Face's NormalizedString::split does. Empty pieces are dropped.
 */
export function splitByMatches(
  text: string,
  starts: number[],
  ends: number[],
  behavior: SplitBehavior,
  invert: boolean,
  out: string[],
): void {
  // segments covering the whole text: [start, end, isMatch]
  const segS: number[] = [];
  const segE: number[] = [];
  const segM: boolean[] = [];
  let prev = 0;
  for (let k = 0; k < starts.length; k++) {
    if (starts[k]! > prev) {
      segS.push(prev);
      segE.push(starts[k]!);
      segM.push(invert);
    }
    segS.push(starts[k]!);
    segE.push(ends[k]!);
    segM.push(!invert);
    prev = ends[k]!;
  }
  if (prev < text.length) {
    segS.push(prev);
    segE.push(text.length);
    segM.push(invert);
  }
  const n = segS.length;
  const emit = (s: number, e: number) => {
    if (e > s) out.push(text.slice(s, e));
  };
  switch (behavior) {
    case "Removed":
      for (let i = 0; i < n; i++) if (!segM[i]) emit(segS[i]!, segE[i]!);
      return;
    case "Isolated":
      for (let i = 0; i < n; i++) emit(segS[i]!, segE[i]!);
      return;
    case "MergedWithPrevious": {
      const rs: number[] = [];
      const re: number[] = [];
      let previousMatch = false;
      for (let i = 0; i < n; i++) {
        if (segM[i] && !previousMatch && rs.length > 0) re[re.length - 1] = segE[i]!;
        else {
          rs.push(segS[i]!);
          re.push(segE[i]!);
        }
        previousMatch = segM[i]!;
      }
      for (let i = 0; i < rs.length; i++) emit(rs[i]!, re[i]!);
      return;
    }
    case "MergedWithNext": {
      const rs: number[] = [];
      const re: number[] = [];
      let previousMatch = false;
      for (let i = n - 1; i >= 0; i--) {
        if (segM[i] && !previousMatch && rs.length > 0) rs[rs.length - 1] = segS[i]!;
        else {
          rs.push(segS[i]!);
          re.push(segE[i]!);
        }
        previousMatch = segM[i]!;
      }
      for (let i = rs.length - 1; i >= 0; i--) emit(rs[i]!, re[i]!);
      return;
    }
    case "Contiguous": {
      const rs: number[] = [];
      const re: number[] = [];
      let previousMatch = false;
      for (let i = 0; i < n; i++) {
        if (segM[i] === previousMatch && rs.length > 0) re[re.length - 1] = segE[i]!;
        else {
          rs.push(segS[i]!);
          re.push(segE[i]!);
        }
        previousMatch = segM[i]!;
      }
      for (let i = 0; i < rs.length; i++) emit(rs[i]!, re[i]!);
      return;
    }
  }
}

/** Non-empty matches of a global regex in `text`, as parallel start/end arrays. */
export function regexMatches(regex: RegExp, text: string, starts: number[], ends: number[]): void {
  regex.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = regex.exec(text)) !== null) {
    const len = m[0].length;
    if (len === 0) {
      regex.lastIndex++;
      continue;
    }
    starts.push(m.index);
    ends.push(m.index + len);
  }
}

/** Occurrences of a literal string in `text`. */
export function stringMatches(needle: string, text: string, starts: number[], ends: number[]): void {
  if (needle.length === 0) return;
  let i = text.indexOf(needle);
  while (i >= 0) {
    starts.push(i);
    ends.push(i + needle.length);
    i = text.indexOf(needle, i + needle.length);
  }
}
