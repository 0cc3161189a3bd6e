import type { Decoder } from "./decoder.js";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Turns runs of <0xXX> tokens into the text their bytes spell (U+FFFD per byte when invalid UTF-8). */
export class ByteFallbackDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    const out: string[] = [];
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length === 0) return;
      try {
        out.push(strict.decode(new Uint8Array(bytes)));
      } catch {
        for (let i = 0; i < bytes.length; i++) out.push("\ufffd");
      }
      bytes = [];
    };
    for (const t of tokens) {
      if (t.length === 6 && t.startsWith("<0x") && t.endsWith(">")) {
        const b = Number.parseInt(t.slice(3, 5), 16);
        if (!Number.isNaN(b)) {
          bytes.push(b);
          continue;
        }
      }
      flush();
      out.push(t);
    }
    flush();
    return out;
  }
  toJSON() {
    return { type: "ByteFallback" };
  }
}
