import { TokenizerError, describe } from "./utils/errors.js";
import type { Tokenizer, DecodeOptions } from "./tokenizer.js";

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * Decodes ids as they arrive (e.g. from a sampler) and returns the text each one completes,
 * never splitting a UTF-8 character: bytes of an unfinished character wait for the next id.
 *
 * Byte-level tokenizers feed the token bytes through a streaming UTF-8 decoder. Others (byte
 * fallback, Metaspace) decode a small window of ids and emit what was added once the window no
 * longer ends in an unfinished character (U+FFFD), as Hugging Face's DecodeStream does.
 */
export class DecodeStream {
  private readonly bytes: boolean;
  private utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
  private window: number[] = [];
  private prefix = "";
  /** the last id that is not a byte-fallback token: context for the next window */
  private lastPlain = -1;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly options: DecodeOptions = {},
  ) {
    this.bytes = tokenizer.decodesBytes();
  }

  /** Adds one id (or several) and returns the text that became complete. */
  push(ids: number | ArrayLike<number>): string {
    if (typeof ids === "number") return this.step(ids);
    if (ids === null || typeof ids !== "object")
      throw new TokenizerError(`DecodeStream.push: expected an id or ids, found ${describe(ids)}`);
    let out = "";
    for (let i = 0; i < ids.length; i++) out += this.step(ids[i]!);
    return out;
  }

  private step(id: number): string {
    if (this.bytes) return this.utf8.decode(this.tokenizer.decodeBytes([id], this.options), { stream: true });
    this.window.push(id);
    if (!BYTE_TOKEN.test(this.tokenizer.idToToken(id) ?? "")) this.lastPlain = id;
    const text = this.tokenizer.decode(this.window, this.options);
    if (text.length <= this.prefix.length || text.endsWith("\ufffd")) return "";
    const added = text.slice(this.prefix.length);
    // keep one plain token as context (decoders treat the first token specially, e.g. Metaspace);
    // a byte token would be, since runs of byte tokens are decoded together
    this.window = this.lastPlain >= 0 ? [this.lastPlain] : [];
    this.prefix = this.tokenizer.decode(this.window, this.options);
    return added;
  }

  /** Ends the stream: returns what is left, with U+FFFD for an unfinished character. */
  flush(): string {
    if (this.bytes) {
      const rest = this.utf8.decode();
      this.utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
      return rest;
    }
    const text = this.tokenizer.decode(this.window, this.options);
    const rest = text.length > this.prefix.length ? text.slice(this.prefix.length) : "";
    this.window = [];
    this.prefix = "";
    this.lastPlain = -1;
    return rest;
  }
}
