import { PairTable } from "./pair_table.js";
import type { VocabTable } from "./vocab_table.js";

/** a slot of a merge in a run is its token << RUN_BITS | its place in the run */
const RUN_BITS = 7;
/** merges of a token past this many ranks into its run go to the pair table */
const RUN_MAX = 1 << RUN_BITS;
/** a run's rank that is not its token's merge; merges with a left half this long or longer go to the pair table */
const NOT_IN_RUN = 255;

/** What the merge loop asks of a merge table. */
export interface MergeLookup {
  /** Slot of the merge of (a, b), or -1 when the pair does not merge; read it with rank() and result(). */
  find(a: number, b: number): number;
  rank(slot: number): number;
  result(slot: number): number;
}

/**
 * The merges of a tokenizer.json, keyed by the token each one makes.
 *
 * Files list merges in the order of the tokens they make (a token converted from tiktoken has
 * several merges, one after another), so the merges of each token are one run of ranks: the
 * table keeps per rank the length of its left half (one byte: a merge of token m is told
 * apart from m's other merges by where it splits m), and per token where its run starts. A
 * pair (a, b) is found through the vocab (the token a + b, by its hash, then its characters)
 * and then in that token's short run, as the merge that splits it after a; the slot it
 * answers holds the token and the place in the run, so the token needs no array of its own.
 * Building it writes a few arrays front to back; a hash table of pairs, the other way, scatters
 * 280k writes over 8 MB, which was the largest single cost of loading llama3's file.
 * The rare merge that comes after its token's run has ended (or more than RUN_MAX ranks into
 * it) goes to a small PairTable; a file whose merges are mostly in another order (gemma3's)
 * ends up with all of them there.
 */
export class MergeTable implements MergeLookup {
  /** per rank: the length of the left half of a merge in its token's run, else NOT_IN_RUN */
  private leftLength: Uint8Array;
  /** run of token t: ranks [first[t], first[t + 1]) (which may hold others' merges, marked NOT_IN_RUN) */
  private readonly first: Int32Array;
  /** merges whose token's run had ended */
  private late: PairTable | null = null;
  /** every merge is in `late` (see done()) */
  private allLate: boolean;
  /** slots of merges in runs are below this; pair-table slots come after */
  private runSlots: number;
  private lastToken = -1;
  /** number of merges */
  size = 0;

  constructor(
    private readonly vocab: VocabTable,
    expected = 1024,
  ) {
    this.leftLength = new Uint8Array(Math.max(16, expected));
    this.first = new Int32Array(vocab.length + 1);
    // a slot must fit in an int: a vocab too large for that keeps every merge in the pair table
    this.allLate = this.first.length * RUN_MAX >= 2 ** 31;
    this.runSlots = this.allLate ? 0 : this.first.length * RUN_MAX;
  }

  /**
   * Adds the next merge (rank = the number added so far) of the halves a and b into m; call
   * done() after the last. token(m) must be the merge's text, and a and b tokens with the
   * lengths of its two halves (`leftLength` is a's, given by a reader that knows it): then
   * token(a) + token(b) = token(m) whenever the halves are tokens (a reader may find a half by
   * its hash and length alone: VocabTable.mergeIds). A merge whose a and b do not spell
   * token(m) is kept but never applies: find() joins a pair's characters to reach a run, and
   * the pair table takes a merge only if its characters join.
   */
  add(a: number, b: number, m: number, leftLength = this.vocab.lengthOf(a)): void {
    const r = this.size++;
    if (r === this.leftLength.length) this.growRanks();
    if (!this.allLate && leftLength < NOT_IN_RUN && (m > this.lastToken || (m === this.lastToken && r - this.first[m]! < RUN_MAX))) {
      // m's run goes on, or starts here (tokens in between have no merges: empty runs)
      for (let t = this.lastToken + 1; t <= m; t++) this.first[t] = r;
      this.lastToken = m;
      this.leftLength[r] = leftLength;
    } else {
      if (this.vocab.joins(m, a, b)) (this.late ??= new PairTable(64)).set(a, b, r, m);
      this.leftLength[r] = NOT_IN_RUN;
    }
  }

  /** Closes the last run. */
  done(): this {
    for (let t = this.lastToken + 1; t < this.first.length; t++) this.first[t] = this.size;
    this.lastToken = this.first.length;
    const late = this.late;
    if (!this.allLate && late !== null && late.size * 2 > this.size) {
      // mostly out of token order (gemma3's merges are): runs would only make every lookup
      // look twice, so all merges go to the pair table
      const { first, leftLength } = this;
      for (let t = 0; t + 1 < first.length; t++)
        for (let r = first[t]!; r < first[t + 1]!; r++) if (leftLength[r] !== NOT_IN_RUN) this.lateOnly(r, leftLength[r]!, t);
      this.first.fill(0);
      this.leftLength = new Uint8Array(0);
      this.allLate = true;
      this.runSlots = 0;
    }
    return this;
  }

  /** Number of merges kept in the pair table rather than in runs (all of them when mostly out of order). */
  get outOfRun(): number {
    return this.late === null ? 0 : this.late.size;
  }

  find(a: number, b: number): number {
    const late = this.late;
    if (this.allLate) {
      const s = late!.find(a, b);
      return s < 0 ? -1 : this.runSlots + s;
    }
    if (late !== null) {
      // a pair listed twice: the later listing counts (as in a Map built from the list), and the later one is here
      const s = late.find(a, b);
      if (s >= 0) return this.runSlots + s;
    }
    // merges with left halves this long are all in the pair table (and NOT_IN_RUN marks others')
    const length = this.vocab.lengthOf(a);
    if (length >= NOT_IN_RUN) return -1;
    // the token a + b, if it is one (found by its characters): its merges decide. The merge of
    // m that splits it after a's length has the halves a and b exactly; latest first
    const m = this.vocab.concatId(a, b);
    if (m < 0) return -1;
    const leftLength = this.leftLength;
    const start = this.first[m]!;
    for (let r = this.first[m + 1]! - 1; r >= start; r--) if (leftLength[r] === length) return (m << RUN_BITS) | (r - start);
    return -1;
  }

  rank(slot: number): number {
    const runSlots = this.runSlots;
    return slot < runSlots ? this.first[slot >>> RUN_BITS]! + (slot & (RUN_MAX - 1)) : this.late!.rank(slot - runSlots);
  }

  result(slot: number): number {
    const runSlots = this.runSlots;
    return slot < runSlots ? slot >>> RUN_BITS : this.late!.result(slot - runSlots);
  }

  /**
   * Calls fn for every merge that applies, in no particular order: (left id, right id, rank,
   * merged id). A pair listed twice is reported once, with the rank find() answers (the later).
   */
  forEach(fn: (a: number, b: number, rank: number, result: number) => void): void {
    const late = this.late;
    if (!this.allLate) {
      const { first, leftLength, vocab } = this;
      for (let m = 0; m + 1 < first.length; m++) {
        for (let r = first[m]!; r < first[m + 1]!; r++) {
          const length = leftLength[r]!;
          if (length === NOT_IN_RUN) continue;
          const a = vocab.spanId(m, 0, length);
          const b = vocab.spanId(m, length, vocab.lengthOf(m));
          if (a < 0 || b < 0) continue;
          // the later listing of a pair wins: skip this one when find() answers another
          if (this.rank(this.find(a, b)) !== r) continue;
          fn(a, b, r, m);
        }
      }
    }
    late?.forEach(fn);
  }

  /** Moves run merge r (m split after leftLength units) into the pair table, unless the pair is there with a later rank (listed again, late). */
  private lateOnly(r: number, leftLength: number, m: number): void {
    // the halves, read off m (not both tokens: a merge that never applies, see add())
    const a = this.vocab.spanId(m, 0, leftLength);
    const b = this.vocab.spanId(m, leftLength, this.vocab.lengthOf(m));
    if (a < 0 || b < 0) return;
    const late = this.late!;
    const s = late.find(a, b);
    if (s < 0 || late.rank(s) < r) late.set(a, b, r, m);
  }

  private growRanks(): void {
    const leftLength = new Uint8Array(this.leftLength.length * 2);
    leftLength.set(this.leftLength);
    this.leftLength = leftLength;
  }
}
