import { TokenizerError } from "../utils/errors.js";
import { BYTE_TO_CHAR, textToByteLevel, utf8Encode } from "../utils/byte_level.js";
import { MergeTable, type MergeLookup } from "./merge_table.js";
import { mergeSymbols } from "./merge.js";
import { PieceCache } from "./piece_cache.js";
import { VocabTable } from "./vocab_table.js";

export interface BPEOptions {
  /**
   * The vocab, both ways; or id -> token string (holes undefined), indexed here. Byte-level
   * models write bytes with GPT-2's byte-to-character map.
   */
  vocab: VocabTable | readonly (string | undefined)[];
  /** merge table: (left id, right id) -> (rank, merged id) */
  pairs: MergeLookup;
  /** the merges in rank order, as written in tokenizer.json; null when the model came from ranks (tiktoken) */
  merges: ReadonlyArray<string | [string, string]> | null;
  /** the model works on the UTF-8 bytes of each piece (GPT-2 / tiktoken byte-level BPE) */
  byteLevel: boolean;
  /** a piece that is itself a token is not merged (Hugging Face `ignore_merges`, tiktoken's behaviour) */
  ignoreMerges?: boolean;
  /** unknown characters become <0xXX> byte tokens (SentencePiece byte fallback) */
  byteFallback?: boolean;
  unkToken?: string | null;
  fuseUnk?: boolean;
}

const EMPTY: number[] = [];
/** U+2581, SentencePiece's space. */
const SPACE_MARK = 0x2581;
/** Pieces longer than this are split at spaces where that cannot change the ids (splitsAtSpaces). */
const SPLIT_ABOVE = 64;

/**
 * Byte-pair-encoding model: turns one pre-tokenized piece into token ids, through a cache of
 * piece -> ids in front of the merge loop.
 */
export class BPEModel {
  /** token <-> id */
  readonly tokenToId: VocabTable;
  readonly pairs: MergeLookup;
  readonly merges: ReadonlyArray<string | [string, string]> | null;
  readonly byteLevel: boolean;
  readonly ignoreMerges: boolean;
  readonly byteFallback: boolean;
  readonly unkToken: string | null;
  readonly unkId: number;
  readonly fuseUnk: boolean;
  /** byte -> id of its single-byte token (byte-level) or of <0xXX> (byte fallback), -1 if absent */
  readonly byteIds: Int32Array;
  private cache = new PieceCache();
  /** See spaceJoiners; undefined until a long piece asks. */
  private joiners: ReadonlySet<number> | null | undefined = undefined;
  private tokenList: (string | undefined)[] | null = null;
  private sym = new Int32Array(256);

  constructor(o: BPEOptions) {
    this.tokenToId = o.vocab instanceof VocabTable ? o.vocab : VocabTable.fromTokens(o.vocab);
    this.pairs = o.pairs;
    this.merges = o.merges;
    this.byteLevel = o.byteLevel;
    this.ignoreMerges = o.ignoreMerges ?? false;
    this.byteFallback = o.byteFallback ?? false;
    this.unkToken = o.unkToken ?? null;
    this.fuseUnk = o.fuseUnk ?? false;
    this.unkId = this.unkToken === null ? -1 : (this.tokenToId.get(this.unkToken) ?? -1);
    if (this.unkToken !== null && this.unkId < 0)
      throw new TokenizerError(`model.unk_token: expected a token of the vocab, found ${JSON.stringify(this.unkToken)} which is not in it`);
    this.byteIds = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const name = this.byteLevel ? BYTE_TO_CHAR[b]! : `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      this.byteIds[b] = this.tokenToId.get(name) ?? -1;
    }
  }

  /** Number of ids (the largest id + 1). */
  get size(): number {
    return this.tokenToId.length;
  }

  /** The token of `id`, or undefined. */
  token(id: number): string | undefined {
    return this.tokenToId.token(id);
  }

  /** Every token by id (holes undefined); made on first use, since encoding and decoding do not need it. */
  get vocab(): readonly (string | undefined)[] {
    return (this.tokenList ??= this.tokenToId.tokens());
  }

  /** Forgets cached pieces (the cache is bounded; this frees its memory). */
  clearCache(): void {
    this.cache.clear();
  }

  /** Appends the ids of one pre-tokenized piece to `out`. */
  encodePiece(piece: string, out: number[]): void {
    this.encodeSpan(piece, 0, piece.length, out);
  }

  /** Appends the ids of the piece text[s, e) to `out`. */
  encodeSpan(text: string, s: number, e: number, out: number[]): void {
    const joiners = e - s > SPLIT_ABOVE ? this.spaceJoiners() : null;
    if (joiners !== null) {
      // SentencePiece-style text is one long piece (no pre-tokenizer): merge it word by word,
      // each word through the cache, where no merge can cross the word's start (spaceJoiners)
      let start = s;
      for (let i = s + 1; i < e; i++) {
        if (text.charCodeAt(i) !== SPACE_MARK) continue;
        const before = text.charCodeAt(i - 1);
        if (before === SPACE_MARK || joiners.has(before)) continue;
        this.encodeCached(text, start, i, out);
        start = i;
      }
      this.encodeCached(text, start, e, out);
      return;
    }
    this.encodeCached(text, s, e, out);
  }

  /**
   * BPE over a text gives the same ids as BPE over its pieces split before a "▁" (SentencePiece's
   * space) wherever no merge can join across that split: where no token holds the character
   * before it followed by "▁". These are those characters (UTF-16 units; LLaMA 2's and Mistral's
   * vocabularies have none, Gemma 3's one: ">" of ">▁</"), for a character-level model whose "▁"
   * is a token; null for other models. Found once, on the first long piece.
   */
  private spaceJoiners(): ReadonlySet<number> | null {
    if (this.joiners === undefined) {
      this.joiners = null;
      if (!this.byteLevel && this.tokenToId.get("▁") !== undefined) {
        const joiners = new Set<number>();
        // not kept: encoding needs no token list
        for (const t of this.tokenToId.tokens()) {
          if (t === undefined) continue;
          for (let i = t.indexOf("▁", 1); i > 0; i = t.indexOf("▁", i + 1))
            if (t.charCodeAt(i - 1) !== SPACE_MARK) joiners.add(t.charCodeAt(i - 1));
        }
        this.joiners = joiners;
      }
    }
    return this.joiners;
  }

  private encodeCached(text: string, s: number, e: number, out: number[]): void {
    const h = PieceCache.hash(text, s, e);
    const hit = this.cache.get(text, s, e, h);
    if (hit !== undefined) {
      if (typeof hit === "number") out.push(hit);
      else for (let i = 0; i < hit.length; i++) out.push(hit[i]!);
      return;
    }
    const piece = s === 0 && e === text.length ? text : text.slice(s, e);
    const ids = this.computePiece(piece);
    this.cache.set(piece, h, ids.length === 1 ? ids[0]! : ids);
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  /** The ids of one piece, without the cache. */
  computePiece(piece: string): number[] {
    if (piece.length === 0) return EMPTY;
    if (this.ignoreMerges) {
      const whole = this.tokenToId.get(this.byteLevel ? textToByteLevel(piece) : piece);
      if (whole !== undefined) return [whole];
    }
    const n = this.byteLevel ? this.byteSymbols(piece) : this.charSymbols(piece);
    const sym = this.sym;
    const m = mergeSymbols(this.pairs, sym, n);
    const out = new Array<number>(m);
    let k = 0;
    for (let i = 0; i < m; i++) {
      const id = sym[i]!;
      if (id >= 0) out[k++] = id;
    }
    out.length = k;
    return out;
  }

  private reserve(n: number): Int32Array {
    if (this.sym.length < n) this.sym = new Int32Array(Math.max(n, this.sym.length * 2));
    return this.sym;
  }

  /** Initial symbols of a byte-level piece: one per UTF-8 byte. Bytes without a token are dropped (as Hugging Face does) or become unk. */
  private byteSymbols(piece: string): number {
    const len = piece.length;
    let sym = this.reserve(len * 3);
    const byteIds = this.byteIds;
    let n = 0;
    let ascii = true;
    for (let i = 0; i < len; i++) {
      const c = piece.charCodeAt(i);
      if (c >= 0x80) {
        ascii = false;
        break;
      }
      sym[n++] = byteIds[c]!;
    }
    if (!ascii) {
      const bytes = utf8Encode(piece);
      sym = this.reserve(bytes.length);
      for (let i = 0; i < bytes.length; i++) sym[i] = byteIds[bytes[i]!]!;
      n = bytes.length;
    }
    let m = 0;
    for (let i = 0; i < n; i++) {
      const id = sym[i]!;
      if (id >= 0) sym[m++] = id;
      else if (this.unkId >= 0 && !(this.fuseUnk && m > 0 && sym[m - 1] === this.unkId)) sym[m++] = this.unkId;
    }
    return m;
  }

  /** Initial symbols of a character-level piece: one per character, with byte fallback or unk for unknown ones. */
  private charSymbols(piece: string): number {
    const sym = this.reserve(piece.length * 4);
    let n = 0;
    for (let i = 0; i < piece.length; ) {
      const cp = piece.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      const ch = piece.slice(i, i + w);
      i += w;
      const id = this.tokenToId.get(ch);
      if (id !== undefined) {
        sym[n++] = id;
        continue;
      }
      if (this.byteFallback) {
        const bytes = utf8Encode(ch);
        let all = true;
        for (const b of bytes) if (this.byteIds[b]! < 0) all = false;
        if (all) {
          for (const b of bytes) sym[n++] = this.byteIds[b]!;
          continue;
        }
      }
      if (this.unkId >= 0 && !(this.fuseUnk && n > 0 && sym[n - 1] === this.unkId)) sym[n++] = this.unkId;
    }
    return n;
  }

  /**
   * The merges in rank order as token-string pairs: as written in tokenizer.json; read back from
   * the merge table when the fast reader kept none; derived from the pair table when the model
   * came from ranks.
   */
  mergeList(): Array<[string, string]> {
    if (this.merges)
      return this.merges.map((m) => {
        if (typeof m !== "string") return [m[0], m[1]];
        const i = m.indexOf(" ");
        return [m.slice(0, i), m.slice(i + 1)];
      });
    if (this.pairs instanceof MergeTable) return this.mergesFromTable(this.pairs);
    return this.mergesFromRanks();
  }

  /** A tokenizer.json's merges as the merge table holds them, in rank order. */
  private mergesFromTable(table: MergeTable): Array<[string, string]> {
    const ranked: [number, number, number][] = [];
    table.forEach((a, b, rank) => ranked.push([rank, a, b]));
    ranked.sort((x, y) => x[0] - y[0]);
    return ranked.map(([, a, b]) => [this.tokenToId.token(a)!, this.tokenToId.token(b)!]);
  }

  /**
   * Merges of a model that came from ranks (tiktoken), as Hugging Face's converter derives them:
   * for each token in rank order, BPE on its own bytes using only lower ranks ends in two parts,
   * and joining those is the token's merge.
   */
  private mergesFromRanks(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const table = this.pairs;
    for (let r = 0; r < this.vocab.length; r++) {
      const token = this.vocab[r];
      if (token === undefined || token.length < 2) continue;
      let sym: number[] = [];
      for (let i = 0; i < token.length; i++) sym.push(this.tokenToId.get(token[i]!) ?? -1);
      if (sym.includes(-1)) continue;
      for (;;) {
        let best = -1;
        let bestRank = r;
        for (let i = 0; i + 1 < sym.length; i++) {
          const slot = table.find(sym[i]!, sym[i + 1]!);
          if (slot >= 0 && table.rank(slot) < bestRank) {
            bestRank = table.rank(slot);
            best = i;
          }
        }
        if (best < 0) break;
        const merged = table.result(table.find(sym[best]!, sym[best + 1]!));
        sym = [...sym.slice(0, best), merged, ...sym.slice(best + 2)];
      }
      if (sym.length === 2) out.push([this.vocab[sym[0]!]!, this.vocab[sym[1]!]!]);
    }
    return out;
  }

  toJSON(): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    this.vocab.forEach((t, i) => {
      if (t !== undefined) vocab[t] = i;
    });
    return {
      type: "BPE",
      dropout: null,
      unk_token: this.unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: this.fuseUnk,
      byte_fallback: this.byteFallback,
      ignore_merges: this.ignoreMerges,
      vocab,
      merges: this.mergeList(),
    };
  }
}
