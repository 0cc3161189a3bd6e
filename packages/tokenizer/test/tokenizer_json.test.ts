import { describe, it, expect } from "vitest";
import { fromTokenizerJson } from "../src/index.js";
import { readTokenizerJsonFast } from "../src/serialization/fast_json.js";
import { lenmlFile, HARD_CASES, brownDocs } from "./helpers.js";

// The fast tokenizer.json reader (vocab and merges read straight from the text) must agree
// with building from the parsed object, whatever the key order, layout and escapes.
describe("reading tokenizer.json text", () => {
  const text = lenmlFile("qwen3");
  // biome-ignore lint/suspicious/noExplicitAny: tests reach into and mutate parsed tokenizer JSON freely
  const parsed = JSON.parse(text) as Record<string, any>;
  const fromObject = fromTokenizerJson(parsed);
  const texts = [...HARD_CASES, ...brownDocs().slice(0, 5), 'quotes " and \\ backslashes \\" in text'];

  /** the text, and its UTF-8 bytes in every form the loader takes, read as the parsed object is */
  function same(json: string) {
    const bytes = new TextEncoder().encode(json);
    for (const input of [json, bytes, bytes.buffer, Buffer.from(bytes), new DataView(bytes.buffer)]) {
      const t = fromTokenizerJson(input);
      expect(t.vocabSize).toBe(fromObject.vocabSize);
      for (const s of texts) expect(t.encode(s)).toEqual(fromObject.encode(s));
    }
  }

  it('file as shipped (pretty-printed, merges as pairs, escaped tokens such as \\" and \\\\)', () => {
    expect(text).toContain('\\"');
    same(text);
  });

  it("compact JSON with merges before the vocab and the model first", () => {
    const { model, ...rest } = parsed;
    const { vocab, merges, ...modelRest } = model;
    same(JSON.stringify({ model: { ...modelRest, merges, vocab }, ...rest }));
  });

  it("a vocab written out of id order (reversed), escaped tokens included", () => {
    // built by hand: JSON.stringify would put integer-like keys such as "0" first
    const entries = Object.entries(parsed.model.vocab as Record<string, number>).reverse();
    const vocabText = `{${entries.map(([t, id]) => `${JSON.stringify(t)}: ${id}`).join(", ")}}`;
    const { vocab: _, ...modelRest } = parsed.model;
    const modelText = `{"vocab": ${vocabText}, ${JSON.stringify(modelRest).slice(1)}`;
    const { model: __, ...rest } = parsed;
    same(`{"model": ${modelText}, ${JSON.stringify(rest).slice(1)}`);
  });

  it("merges as 'a b' strings, and tokens written with \\u escapes", () => {
    const merges = (parsed.model.merges as [string, string][]).map(([a, b]) => `${a} ${b}`);
    const json = JSON.stringify({ ...parsed, model: { ...parsed.model, merges } }).replace(/Ġ/g, "\\u0120");
    expect(json).toContain("\\u0120");
    same(json);
  });
});

describe("reading tokenizer.json bytes", () => {
  const tiny = (vocab: string, merges: string, extra = "") => `{"model": {"type": "BPE", "vocab": ${vocab}, "merges": ${merges}}${extra}}`;
  const utf8 = (s: string) => new TextEncoder().encode(s);

  it("is read as loadTokenizerJson reads a file, with or without a byte order mark", () => {
    const text = lenmlFile("llama3");
    const fromObject = fromTokenizerJson(JSON.parse(text));
    const bytes = utf8(text);
    const withBom = new Uint8Array(bytes.length + 3);
    withBom.set([0xef, 0xbb, 0xbf]);
    withBom.set(bytes, 3);
    expect(readTokenizerJsonFast(withBom, "t.json")).not.toBeNull();
    for (const input of [bytes, withBom, `\ufeff${text}`]) {
      const t = fromTokenizerJson(input);
      expect(t.vocabSize).toBe(fromObject.vocabSize);
      for (const s of [...HARD_CASES, ...brownDocs().slice(0, 3)]) expect(t.encode(s)).toEqual(fromObject.encode(s));
    }
  });

  it("tokens of one to four UTF-8 bytes, written raw or as \\u escapes (surrogate pairs too), are the same tokens", () => {
    // "é" is 2 bytes, "中" 3, "😀" 4 (two UTF-16 code units)
    const raw = tiny(`{"é": 0, "中": 1, "😀": 2, "é中": 3, "é中😀": 4}`, `["é 中", ["é中", "😀"]]`);
    const escaped = tiny(
      `{"\\u00e9": 0, "\\u4e2d": 1, "\\ud83d\\ude00": 2, "\\u00e9\\u4e2D": 3, "\\u00e9\\u4e2d\\uD83D\\uDE00": 4}`,
      `["\\u00e9 \\u4e2d", ["\\u00e9\\u4e2d", "\\ud83d\\ude00"]]`,
    );
    for (const json of [raw, escaped]) {
      expect(readTokenizerJsonFast(utf8(json), "t.json"), "read by the fast reader").not.toBeNull();
      // a view that starts inside its buffer (as small Buffers sit in Node's shared pool)
      const padded = new Uint8Array(utf8(json).length + 5).fill(0x7b);
      padded.set(utf8(json), 5);
      const view = padded.subarray(5);
      for (const input of [json, utf8(json), view, JSON.parse(json)]) {
        const t = fromTokenizerJson(input);
        expect(t.encode("é中😀é中é")).toEqual([4, 3, 0]);
        expect(t.idToToken(2)).toBe("😀");
        expect(t.tokenToId("é中😀")).toBe(4);
      }
    }
  });

  it("a merge longer than the reader's first buffer", () => {
    const long = "x".repeat(700);
    const vocab = `{"x": 0, ${JSON.stringify(long)}: 1, ${JSON.stringify(long + long)}: 2}`;
    // read whole (a half cut short would not be in the vocab), in both forms
    for (const merges of [`[${JSON.stringify(`${long} ${long}`)}]`, `[[${JSON.stringify(long)}, ${JSON.stringify(long)}]]`]) {
      expect(readTokenizerJsonFast(utf8(tiny(vocab, merges)), "t.json")!.data.pairs.size).toBe(1);
    }
    expect(() => fromTokenizerJson(utf8(tiny(vocab, `[${JSON.stringify(`${long} ${long}x`)}]`)))).toThrow(`token "${long}x" of merge`);
  });

  it('an "a b" merge whose space is written \\u0020 splits there, as it does in the parsed object', () => {
    const json = tiny(`{"a": 0, "b": 1, "ab": 2}`, `["a\\u0020b"]`);
    // the fast reader splits at a written space only, so it leaves this one to JSON.parse
    expect(readTokenizerJsonFast(utf8(json), "t.json")).toBeNull();
    expect(fromTokenizerJson(utf8(json)).encode("ab")).toEqual([2]);
    expect(fromTokenizerJson(JSON.parse(json)).encode("ab")).toEqual([2]);
  });

  it("bytes that are not UTF-8 are an error naming the byte; text with a lone surrogate is read as JSON.parse reads it", () => {
    const json = tiny(`{"a": 0, "b": 1, "ab": 2, "cX": 3}`, `["a b"]`);
    const bytes = utf8(json);
    const at = json.indexOf("X");
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe4, 0xb8]]) {
      const broken = new Uint8Array([...bytes.subarray(0, at), ...bad, ...bytes.subarray(at + 1)]);
      expect(() => fromTokenizerJson(broken, "t.json"), `bytes ${bad}`).toThrow(
        new RegExp(`^t\\.json: expected UTF-8 text, found bytes that are not UTF-8 at byte ${at}$`),
      );
    }
    const lone = fromTokenizerJson(json.replace("X", "\ud800"));
    expect(lone.tokenToId("c\ud800")).toBe(3);
  });

  it("skips the parts around the model whatever their strings hold: escaped quotes, trailing backslashes", () => {
    const contents = ['say "hi"', "back\\", '\\"', "]}", '"', "model", '"model": {'];
    // a "model" key inside an added token, before the root's
    const added = contents.map((content, k) => ({ id: 5 + k, content, special: true, ...(k === 0 ? { model: { vocab: {} } } : {}) }));
    const json = `{"added_tokens": ${JSON.stringify(added)}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}, "decoder": null}`;
    const fast = readTokenizerJsonFast(utf8(json), "t.json");
    expect(fast, "read by the fast reader").not.toBeNull();
    expect((fast!.root.added_tokens as { content: string }[]).map((t) => t.content)).toEqual(contents);
    const t = fromTokenizerJson(utf8(json));
    expect(t.encode(`ab${contents[1]}ab${contents[0]}`)).toEqual([2, 6, 2, 5]);
  });

  it("a merge is matched to its token, not to a hole in the ids beside it (empty tokens, the only case that could)", () => {
    // id 0 is a hole (an added token's); the merge of two empty tokens makes the empty token, id 1
    const json = `{"added_tokens": [{"id": 0, "content": "<s>", "special": true}], "model": {"type": "BPE", "vocab": {"": 1, "a": 2}, "merges": [["", ""]]}}`;
    const { pairs } = readTokenizerJsonFast(utf8(json), "t.json")!.data;
    expect(pairs.result(pairs.find(1, 1))).toBe(1);
  });

  // two 3-unit strings with the same VocabTable hash (see merge_table.test.ts)
  const X = "a\u0300\u1000";
  const Y = "b\u00da\uf769";
  const vocabJson = (tokens: string[]) => JSON.stringify(Object.fromEntries(tokens.map((t, id) => [t, id])));
  const mergesJson = (merges: [string, string][]) => JSON.stringify(merges.map(([a, b]) => `${a} ${b}`));

  it("a merge half whose hash another token shares is told apart by its characters", () => {
    // Y comes first, so the index meets Y first when it looks for X's hash
    const tokens = ["a", "\u0300", "\u1000", "b", "\u00da", "\uf769", "z", "\u0300\u1000", "\u00da\uf769", Y, X, `${Y}z`, `${X}z`];
    const merges: [string, string][] = [
      ["\u0300", "\u1000"],
      ["\u00da", "\uf769"],
      ["b", "\u00da\uf769"],
      ["a", "\u0300\u1000"],
      [Y, "z"],
      [X, "z"],
    ];
    const json = tiny(vocabJson(tokens), mergesJson(merges));
    const fromObject = fromTokenizerJson(JSON.parse(json));
    const t = fromTokenizerJson(utf8(json));
    expect(t.encode(`${X}z`)).toEqual([12]);
    expect(t.encode(`${Y}z`)).toEqual([11]);
    for (const s of [`${X}z`, `${Y}z`, `${X + Y}z`, `zz${X}`]) expect(t.encode(s)).toEqual(fromObject.encode(s));
  });

  it("a merge half that is no token but has a token's hash and length never applies, wherever the merge sits", () => {
    // X is not in this vocab, and has Y's hash and length: the fast reader finds merge halves by
    // hash and length, so it takes "X z" for "Y z" rather than reporting X (the parsed object's
    // reader, comparing characters, reports it). The merge makes X + "z", not Y + "z", so it must
    // never join Y and z: not from its token's run, nor from the pair table, where it would go
    // when it comes late or when most merges do (and would outrank "Y z" there)
    const tokens = ["a", "\u0300", "\u1000", "b", "\u00da", "\uf769", "z", "\u0300\u1000", "\u00da\uf769", Y, `${Y}z`, `${X}z`, "zz"];
    const base: [string, string][] = [
      ["\u0300", "\u1000"],
      ["\u00da", "\uf769"],
      ["b", "\u00da\uf769"],
    ];
    const orders: Record<string, { merges: [string, string][]; outOfRun: number }> = {
      "in its run": { merges: [...base, [Y, "z"], [X, "z"]], outOfRun: 0 },
      "late, after a later token's run": { merges: [...base, ["z", "z"], [Y, "z"], [X, "z"]], outOfRun: 1 },
      "with most merges late": { merges: [[Y, "z"], ...base, [X, "z"]], outOfRun: 4 },
    };
    for (const [where, { merges, outOfRun }] of Object.entries(orders)) {
      const json = tiny(vocabJson(tokens), mergesJson(merges));
      expect(() => fromTokenizerJson(JSON.parse(json), "t.json"), where).toThrow(
        /model\.merges\[\d\]: token "a\u0300\u1000" of merge .* is not in the vocab/,
      );
      const t = fromTokenizerJson(utf8(json));
      expect(t.encode(`${Y}z${X}`), where).toEqual([10, 0, 7]);
      expect(t.encode(`${X}z`), where).toEqual([0, 7, 6]);
      // every merge but the one that never applies is kept
      expect(readTokenizerJsonFast(utf8(json), "t.json")!.data.pairs.outOfRun, where).toBe(outOfRun);
    }
  });

  it("a malformed small part, or a raw control character in a token, is a malformed-JSON error", () => {
    for (const json of [
      tiny(`{"a": 0}`, `[]`, `, "normalizer": {bad}`),
      tiny(`{"a\nb": 0}`, `[]`),
      tiny(`{"a": 0, "b": 1, "ab": 2}`, `["a\tb"]`),
    ])
      for (const input of [json, utf8(json)]) expect(() => fromTokenizerJson(input, "t.json")).toThrow(/^t\.json: malformed JSON: /);
  });
});

describe("reading tokenizer.json text: shapes the fast reader hands to JSON.parse", () => {
  // a tiny byte-level-free BPE: "a" "b" -> "ab", then "ab" "c" -> "abc"
  const tiny = (vocab: string, merges: string, extra = "") => `{"model": {"type": "BPE", "vocab": ${vocab}, "merges": ${merges}}${extra}}`;
  const vocab = `{"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4}`;
  const merges = `["a b", "ab c"]`;

  it("reads the tiny file, and holes the added tokens fill", () => {
    const t = fromTokenizerJson(tiny(vocab, merges));
    expect(t.encode("abcab")).toEqual([4, 3]);
    expect(t.decode([4, 3])).toBe("abc ab");
    // ids 5..6 are a hole in the vocab that the added tokens fill
    const holes = fromTokenizerJson(
      `{"added_tokens": [{"id": 5, "content": "<x>", "special": true}, {"id": 6, "content": "<y>", "special": true}], ` +
        `"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<y>": 6}, "merges": ["a b"]}}`,
    );
    expect(holes.encode("ab<x>ab<y>")).toEqual([2, 5, 2, 6]);
    expect(holes.idToToken(6)).toBe("<y>");
  });

  it("a repeated key counts once, the last one, as in JSON.parse", () => {
    const twice = `{"model": {"type": "BPE", "vocab": {"z": 0}, "vocab": ${vocab}, "merges": ["a b"], "merges": ${merges}}}`;
    expect(fromTokenizerJson(twice).encode("abc")).toEqual([4]);
    const modelTwice = `{"model": {"type": "BPE", "vocab": {"z": 0}, "merges": []}, "model": ${tiny(vocab, merges).slice(10, -1)}}`;
    expect(fromTokenizerJson(modelTwice).encode("abc")).toEqual([4]);
  });

  it("a lone surrogate written as \\u escape stays itself (not U+FFFD)", () => {
    const t = fromTokenizerJson(tiny(`{"a": 0, "b": 1, "\\ud800": 2, "ab": 3}`, `["a b"]`));
    expect(t.idToToken(2)).toBe("\ud800");
    expect(t.tokenToId("\ud800")).toBe(2);
    expect(t.tokenToId("\ufffd")).toBeUndefined();
  });

  it("errors name the token, the id or the merge, whichever of vocab and merges comes first", () => {
    for (const order of ["vocab first", "merges first"]) {
      const file = (v: string, m: string) =>
        order === "vocab first" ? tiny(v, m) : `{"model": {"type": "BPE", "merges": ${m}, "vocab": ${v}}}`;
      expect(() => fromTokenizerJson(file(`{"a": 0, "b": 1, "a": 2}`, `[]`), "t.json")).toThrow(
        /t\.json: model\.vocab: token "a" appears twice/,
      );
      expect(() => fromTokenizerJson(file(`{"a": 0, "b": 0}`, `[]`), "t.json")).toThrow(
        /t\.json: model\.vocab: duplicate id 0, used by "a" and "b"/,
      );
      expect(() => fromTokenizerJson(file(`{"a": 0, "b": 99999999}`, `[]`), "t.json")).toThrow(
        /expected ids 0\.\.1 without gaps for 2 tokens, found id 99999999/,
      );
      expect(() => fromTokenizerJson(file(vocab, `["a b", "ab d"]`), "t.json")).toThrow(
        /t\.json: model\.merges\[1\]: token "d" of merge "ab d" is not in the vocab/,
      );
      expect(() => fromTokenizerJson(file(vocab, `["a b", "b c"]`), "t.json")).toThrow(
        /t\.json: model\.merges\[1\]: the merged token "bc" of merge "b c" is not in the vocab/,
      );
      expect(() => fromTokenizerJson(file(vocab, `[["a", "b"], ["x\\"", "c"]]`), "t.json")).toThrow(
        /model\.merges\[1\]: token "x\\"" of merge/,
      );
    }
  });
});

describe("reading tokenizer.json text: a vocab larger than the reader's first room", () => {
  // 300k tokens of 15 code units: more entries (2^18) and more characters (2^22) than the
  // reader makes room for up front, with tokens that need decoding (a quote, written \") here
  // and there and where the room for characters runs out (the token holding code unit 2^22)
  const n = 300_000;
  const straddling = (k: number) => k === Math.floor(2 ** 22 / 15) || k === Math.floor(2 ** 22 / 15) + 1;
  const tokens = Array.from({ length: n }, (_, k) =>
    k % 40_000 === 7
      ? `"${k.toString(36).padStart(11, "_")}\u0120\u0120\u0120`
      : straddling(k)
        ? `${k.toString(36).padStart(12, "_")}\u0120\u0120"`
        : `${k.toString(36).padStart(12, "_")}\u0120\u0120\u0120`,
  );
  const vocabText = `{${tokens.map((t, id) => `${JSON.stringify(t)}: ${id}`).join(",\n")}}`;

  it("reads every token, in id order and out of it", () => {
    for (const order of ["in id order", "out of id order"]) {
      const text =
        order === "in id order" ? vocabText : vocabText.replace(/^\{(.*?),\n/s, "{").replace(/\}$/, `,\n${JSON.stringify(tokens[0])}: 0}`);
      const t = fromTokenizerJson(`{"model": {"type": "BPE", "vocab": ${text}, "merges": []}}`);
      expect(t.vocabSize, order).toBe(n);
      for (const id of [0, 7, 40_007, 262_143, 262_144, 279_619, 279_620, 279_621, 279_622, 280_007, n - 1]) {
        expect(t.idToToken(id), `${order}: id ${id}`).toBe(tokens[id]);
        expect(t.tokenToId(tokens[id]!), `${order}: token of id ${id}`).toBe(id);
      }
    }
  });
});
