import type { PieceScanner } from "./fast_scan.js";

/** A pre-tokenizer splits normalized text into the pieces the model encodes one by one. */
export interface PreTokenizer {
  /** Appends the pieces of `text` to `out`; `first` is true for the section that starts the input. */
  split(text: string, out: string[], first: boolean): void;
  /** the tokenizer.json form */
  toJSON(): Record<string, unknown>;
  /**
   * The same pieces as split(), as one regex over the whole text, when this pre-tokenizer (as
   * the tokenizer's whole pre-tokenizer) has that form; null or absent otherwise. The tokenizer
   * then encodes each piece where it lies in the text, without making its string.
   */
  fastSplit?(): FastSplit | null;
  /** true for ByteLevel: the model after it works on UTF-8 bytes (so it must come last) */
  readonly byteLevel?: boolean;
}

/** A split that is one regex over the whole text. */
export interface FastSplit {
  /** the pieces are this regex's matches and, when keepGaps, the text between them */
  regex: RegExp;
  keepGaps: boolean;
  /** a hand-written scanner that gives exactly the regex's pieces (faster), or null when there is none */
  scanner: PieceScanner | null;
}
