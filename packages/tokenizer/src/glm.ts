import type { Tokenizer } from "./tokenizer.js";

/** GLM's special tokens: [MASK] (short span), [sMASK] (sentence), [gMASK] (generation), [sop] and [eop] (start/end of piece). */
export const GLM_SPECIAL_TOKENS = ["[MASK]", "[sMASK]", "[gMASK]", "[sop]", "[eop]"] as const;

/**
 * Adds GLM's blank-infilling special tokens to any tokenizer (new ids after its vocab, or the
 * existing ids of tokens already in it). Returns token -> id.
 */
export function addGlmSpecialTokens(tokenizer: Tokenizer): Record<(typeof GLM_SPECIAL_TOKENS)[number], number> {
  const ids = tokenizer.addSpecialTokens([...GLM_SPECIAL_TOKENS]);
  return Object.fromEntries(GLM_SPECIAL_TOKENS.map((t, i) => [t, ids[i]!])) as Record<(typeof GLM_SPECIAL_TOKENS)[number], number>;
}
