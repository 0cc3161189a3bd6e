/** What both GGUF vocabulary kinds ("gpt2", "llama") share: llama.cpp's token types, the vocab, the added tokens. */

/** llama.cpp's token types (gguf.TokenType). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** token -> id as tokenizer.json's model.vocab (a repeated token keeps its first id), without a prototype: "__proto__" and "constructor" are plain keys. */
export function vocabOf(tokens: readonly string[]): Record<string, number> {
  const vocab = Object.create(null) as Record<string, number>;
  tokens.forEach((t, id) => {
    if (!Object.hasOwn(vocab, t)) vocab[t] = id;
  });
  return vocab;
}

/**
 * tokenizer.json's added_tokens from the token types: control tokens (and unknown ones, where
 * `unknownToo`) special, user-defined ones not, each matched whole in text as llama.cpp does.
 */
export function addedTokensOf(tokens: readonly string[], typeOf: (id: number) => number, unknownToo: boolean) {
  const kinds: number[] = [TOKEN_TYPE.CONTROL, TOKEN_TYPE.USER_DEFINED, ...(unknownToo ? [TOKEN_TYPE.UNKNOWN] : [])];
  return tokens
    .map((content, id) => ({ id, content, type: typeOf(id) }))
    .filter((t) => kinds.includes(t.type))
    .map((t) => ({
      id: t.id,
      content: t.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: t.type !== TOKEN_TYPE.USER_DEFINED,
    }));
}
