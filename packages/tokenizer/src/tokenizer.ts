import { MAX_TOKEN_ID, TokenizerError, describe } from "./utils/errors.js";
import { AddedTokenMatcher, type AddedToken, type Section } from "./added_vocabulary.js";
import type { BPEModel } from "./models/bpe.js";
import type { Normalizer } from "./normalizers/index.js";
import { flattenPreTokenizers, type PreTokenizer } from "./pre_tokenizers/index.js";
import type { PostProcessor } from "./post_processors/index.js";
import type { Decoder } from "./decoders/index.js";
import type { PieceScanner } from "./pre_tokenizers/fast_scan.js";
import { DecodeStream } from "./streaming.js";

export interface EncodeOptions {
  /** add the special tokens of the post-processor (e.g. `<bos>`); default true */
  addSpecialTokens?: boolean;
  /** recognise special-token strings in the text; false encodes them as plain text (tiktoken's encode_ordinary); default true */
  allowSpecial?: boolean;
  /** a second sequence, for post-processors with a pair template */
  pair?: string;
}

export interface DecodeOptions {
  /** leave out special tokens; default false */
  skipSpecialTokens?: boolean;
}

export interface TokenizerParts {
  model: BPEModel;
  normalizer?: Normalizer | null;
  preTokenizer?: PreTokenizer | null;
  postProcessor?: PostProcessor | null;
  decoder?: Decoder | null;
  addedTokens?: AddedToken[];
}

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A byte-level (or SentencePiece-style) BPE tokenizer: added tokens, normalizer, pre-tokenizer,
 * BPE model, post-processor and decoder, as in Hugging Face tokenizers.
 */
export class Tokenizer {
  readonly model: BPEModel;
  readonly normalizer: Normalizer | null;
  readonly preTokenizer: PreTokenizer | null;
  readonly postProcessor: PostProcessor | null;
  readonly decoder: Decoder | null;
  private added: AddedToken[] = [];
  private addedById = new Map<number, AddedToken>();
  private addedByContent = new Map<string, AddedToken>();
  private rawMatcher = new AddedTokenMatcher();
  private normMatcher = new AddedTokenMatcher();
  /** fast path: one regex whose matches (and gaps, when keepGaps) are the pieces */
  private fastRegex: RegExp | null = null;
  private fastKeepGaps = true;
  /** faster still: a hand-written scanner equivalent to fastRegex */
  private scanner: PieceScanner | null = null;
  private byteTable: (Uint8Array | undefined)[] | null = null;

  constructor(parts: TokenizerParts) {
    this.model = parts.model;
    this.normalizer = parts.normalizer ?? null;
    this.preTokenizer = parts.preTokenizer ?? null;
    this.postProcessor = parts.postProcessor ?? null;
    this.decoder = parts.decoder ?? null;
    const flat = flattenPreTokenizers(this.preTokenizer);
    flat.forEach((p, i) => {
      if (p.byteLevel && i !== flat.length - 1)
        throw new TokenizerError(
          `pre_tokenizer: a ByteLevel pre-tokenizer must come last in the sequence, found it at position ${i} of ${flat.length}`,
        );
    });
    const hasByteLevel = flat.length > 0 && flat[flat.length - 1]!.byteLevel === true;
    if (hasByteLevel !== this.model.byteLevel)
      throw new TokenizerError(
        `pre_tokenizer: a byte-level model needs a ByteLevel pre-tokenizer last and a character-level model none; ` +
          `found model byteLevel=${this.model.byteLevel} with pre-tokenizers [${flat.map((p) => p.toJSON().type).join(", ")}]`,
      );
    const fast = this.preTokenizer?.fastSplit?.() ?? null;
    if (fast) {
      this.fastRegex = fast.regex;
      this.fastKeepGaps = fast.keepGaps;
      this.scanner = fast.scanner;
    }
    for (const t of parts.addedTokens ?? []) this.registerAdded(t);
    // a post-processor must not add ids the vocabulary does not have (1e12 was emitted by encode)
    const size = this.vocabSize;
    for (const id of this.postProcessor?.addedIds?.() ?? []) {
      if (id >= size || this.idToToken(id) === undefined)
        throw new TokenizerError(
          `post_processor: adds token id ${id}, which is not in the vocabulary (ids 0..${size - 1} and the added tokens)`,
        );
    }
  }

  private registerAdded(t: AddedToken): void {
    if (!Number.isInteger(t.id) || t.id < 0 || t.id > MAX_TOKEN_ID)
      throw new TokenizerError(
        `added token ${describe(t.content)}: expected an integer id in [0, ${MAX_TOKEN_ID}], found ${describe(t.id)}`,
      );
    const prev = this.addedById.get(t.id);
    if (prev && prev.content !== t.content)
      throw new TokenizerError(`added_tokens: id ${t.id} is used by both ${JSON.stringify(prev.content)} and ${JSON.stringify(t.content)}`);
    this.added.push(t);
    this.addedById.set(t.id, t);
    this.addedByContent.set(t.content, t);
    if (t.normalized && this.normalizer) {
      this.normMatcher.add({ ...t, content: this.normalizer.normalize(t.content) });
    } else this.rawMatcher.add(t);
    this.byteTable = null;
  }

  /** Number of ids: the model's vocab plus added tokens beyond it. */
  get vocabSize(): number {
    let n = this.model.size;
    for (const t of this.added) if (t.id >= n) n = t.id + 1;
    return n;
  }

  /** The added tokens (special and not), in the order they were added. */
  get addedTokens(): readonly AddedToken[] {
    return this.added;
  }

  /** The special tokens as content -> id. */
  get specialTokens(): Map<string, number> {
    return new Map(this.added.filter((t) => t.special).map((t) => [t.content, t.id]));
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.tokenToId.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.token(id);
  }

  /**
   * Adds tokens matched before the model sees the text. A token already in the vocab keeps its
   * id; new ones get the next free ids. Returns the ids.
   */
  addTokens(tokens: Array<string | (Partial<AddedToken> & { content: string })>, special = false): number[] {
    return tokens.map((t) => {
      const spec = typeof t === "string" ? { content: t } : t;
      if (typeof spec.content !== "string" || spec.content.length === 0)
        throw new TokenizerError(`addTokens: expected a non-empty token string, found ${describe(spec.content)}`);
      const existing = this.addedByContent.get(spec.content);
      if (existing) return existing.id;
      const id = this.model.tokenToId.get(spec.content) ?? this.vocabSize;
      const isSpecial = spec.special ?? special;
      this.registerAdded({
        id,
        content: spec.content,
        special: isSpecial,
        normalized: spec.normalized ?? !isSpecial,
        lstrip: spec.lstrip ?? false,
        rstrip: spec.rstrip ?? false,
        singleWord: spec.singleWord ?? false,
      });
      return id;
    });
  }

  /** Adds special tokens (skipped by decode with skipSpecialTokens). Returns their ids. */
  addSpecialTokens(tokens: string[]): number[] {
    return this.addTokens(tokens, true);
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new TokenizerError(`encode: expected text to be a string, found ${describe(text)}`);
    const allow = options.allowSpecial ?? true;
    const a = this.encodeSequence(text, allow);
    const b = options.pair === undefined ? null : this.encodeSequence(options.pair, allow);
    if (this.postProcessor) return this.postProcessor.process(a, b, options.addSpecialTokens ?? true);
    return b ? a.concat(b) : a;
  }

  /** encode() for each text. */
  encodeBatch(texts: string[], options: EncodeOptions = {}): number[][] {
    if (!Array.isArray(texts)) throw new TokenizerError(`encodeBatch: expected an array of strings, found ${describe(texts)}`);
    return texts.map((t) => this.encode(t, options));
  }

  private encodeSequence(text: string, allowSpecial: boolean): number[] {
    const out: number[] = [];
    const sections: Section[] = [];
    this.rawMatcher.split(text, allowSpecial, sections);
    for (let i = 0; i < sections.length; i++) {
      const s = sections[i]!;
      if (typeof s !== "string") {
        out.push(s.id);
        continue;
      }
      const normalized = this.normalizer ? this.normalizer.normalize(s) : s;
      if (this.normMatcher.empty) {
        this.encodePlain(normalized, out, i === 0);
        continue;
      }
      const sub: Section[] = [];
      this.normMatcher.split(normalized, allowSpecial, sub);
      for (let j = 0; j < sub.length; j++) {
        const t = sub[j]!;
        if (typeof t === "string") this.encodePlain(t, out, i === 0 && j === 0);
        else out.push(t.id);
      }
    }
    return out;
  }

  /** Pre-tokenizes normalized text without added tokens and encodes each piece. */
  private encodePlain(text: string, out: number[], first: boolean): void {
    if (text.length === 0) return;
    const model = this.model;
    const scan = this.scanner;
    if (scan) {
      const n = text.length;
      for (let i = 0; i < n; ) {
        const e = scan(text, i, n);
        model.encodeSpan(text, i, e, out);
        i = e;
      }
      return;
    }
    const re = this.fastRegex;
    if (re) {
      const keepGaps = this.fastKeepGaps;
      re.lastIndex = 0;
      let last = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        const piece = m[0];
        const start = m.index;
        if (piece.length === 0) {
          re.lastIndex++;
          continue;
        }
        if (keepGaps && start > last) model.encodeSpan(text, last, start, out);
        last = start + piece.length;
        model.encodeSpan(text, start, last, out);
      }
      if (keepGaps && last < text.length) model.encodeSpan(text, last, text.length, out);
      return;
    }
    if (!this.preTokenizer) {
      model.encodePiece(text, out);
      return;
    }
    const pieces: string[] = [];
    this.preTokenizer.split(text, pieces, first);
    for (let i = 0; i < pieces.length; i++) model.encodePiece(pieces[i]!, out);
  }

  private checkIds(ids: ArrayLike<number>, where: string): void {
    if (ids === null || typeof ids !== "object" || typeof ids.length !== "number")
      throw new TokenizerError(`${where}: expected an array of token ids, found ${describe(ids)}`);
    const n = this.model.size;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || ((id >= n || this.model.token(id) === undefined) && !this.addedById.has(id)))
        throw new TokenizerError(
          `${where}: id at position ${i} is ${describe(id)}; expected an integer id of a token (0..${this.vocabSize - 1}, assigned)`,
        );
    }
  }

  /** Text of token ids. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    this.checkIds(ids, "decode");
    if (this.decodesBytes()) return utf8.decode(this.decodeBytes(ids, options));
    const skip = options.skipSpecialTokens ?? false;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const added = this.addedById.get(id);
      if (added) {
        if (!(skip && added.special)) tokens.push(added.content);
      } else tokens.push(this.model.token(id)!);
    }
    if (!this.decoder) return tokens.join(" ");
    return this.decoder.decodeChain(tokens).join("");
  }

  /** A DecodeStream over this tokenizer: the text of ids as they arrive, never half a character. */
  decodeStream(options: DecodeOptions = {}): DecodeStream {
    return new DecodeStream(this, options);
  }

  /** decode() for each list of ids. */
  decodeBatch(batch: ArrayLike<number>[], options: DecodeOptions = {}): string[] {
    return Array.from(batch, (ids) => this.decode(ids, options));
  }

  /** True when decoding is a concatenation of per-token bytes (byte-level models with a ByteLevel decoder). */
  decodesBytes(): boolean {
    return this.model.byteLevel && this.decoder?.tokenBytes !== undefined;
  }

  /** The bytes of token ids (byte-level tokenizers only); see decodesBytes(). */
  decodeBytes(ids: ArrayLike<number>, options: DecodeOptions = {}): Uint8Array {
    if (!this.decodesBytes())
      throw new TokenizerError(`decodeBytes: needs a byte-level model and a ByteLevel decoder; this tokenizer decodes text`);
    this.checkIds(ids, "decodeBytes");
    const decoder = this.decoder!;
    const table = (this.byteTable ??= []);
    const skip = options.skipSpecialTokens ?? false;
    const parts: Uint8Array[] = [];
    let len = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      let b = table[id];
      if (b === undefined) {
        b = decoder.tokenBytes!(this.idToToken(id)!);
        table[id] = b;
      }
      if (skip && this.addedById.get(id)?.special) continue;
      parts.push(b);
      len += b.length;
    }
    const out = new Uint8Array(len);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** The Hugging Face tokenizer.json form of this tokenizer. */
  toJSON(): Record<string, unknown> {
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [...this.added]
        .sort((a, b) => a.id - b.id)
        .map((t) => ({
          id: t.id,
          content: t.content,
          single_word: t.singleWord,
          lstrip: t.lstrip,
          rstrip: t.rstrip,
          normalized: t.normalized,
          special: t.special,
        })),
      normalizer: this.normalizer?.toJSON() ?? null,
      pre_tokenizer: this.preTokenizer?.toJSON() ?? null,
      post_processor: this.postProcessor?.toJSON() ?? null,
      decoder: this.decoder?.toJSON() ?? null,
      model: this.model.toJSON(),
    };
  }

  /** tokenizer.json text. */
  toString(): string {
    return JSON.stringify(this.toJSON());
  }
}
