import type { Decoder } from "./decoder.js";
import { byteLevelTokenBytes } from "../utils/byte_level.js";

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** Maps byte-level characters back to bytes and decodes them as UTF-8 (invalid bytes become U+FFFD). */
export class ByteLevelDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    const parts = tokens.map(byteLevelTokenBytes);
    let len = 0;
    for (const p of parts) len += p.length;
    const all = new Uint8Array(len);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return [utf8.decode(all)];
  }
  tokenBytes(token: string): Uint8Array {
    return byteLevelTokenBytes(token);
  }
  toJSON() {
    return { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };
  }
}
