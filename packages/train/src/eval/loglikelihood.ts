import type { LanguageModel } from "@llm/layers";
import { noGrad, tensor, tidy } from "@llm/tensor";
import { TrainError } from "../errors.js";

/** What scoring needs of a tokenizer (an @llm/tokenizer Tokenizer is one). */
export interface EvalTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): ArrayLike<number>;
}

export interface LoglikelihoodOptions {
  /** Longest input the model reads (default its maxPositions); longer ones lose context from the left. */
  maxLength?: number;
  /** The token an empty context starts from (lm-evaluation-harness uses the EOT/BOS token). */
  prefixId?: number;
}

/** log p(continuation | context) and whether greedy decoding would have produced it. */
export interface Loglikelihood {
  logLikelihood: number;
  isGreedy: boolean;
  /** Tokens of the continuation. */
  tokens: number;
}

/**
 * Context and continuation as lm-evaluation-harness encodes them: trailing spaces of the context
 * move to the continuation, the whole text is encoded once and the continuation is what follows
 * the context's own encoding (so a merge across the boundary counts for the continuation).
 */
export function encodePair(
  tokenizer: EvalTokenizer,
  context: string,
  continuation: string,
  prefixId?: number,
): { context: number[]; continuation: number[] } {
  const encode = (s: string) => Array.from(tokenizer.encode(s, { addSpecialTokens: false }));
  const spaces = context.length - context.trimEnd().length;
  let ctx = context;
  let cont = continuation;
  if (spaces > 0) {
    cont = ctx.slice(ctx.length - spaces) + cont;
    ctx = ctx.slice(0, ctx.length - spaces);
  }
  if (ctx === "") {
    if (prefixId === undefined)
      throw new TrainError("encodePair: an empty context needs a prefixId to start from (the tokenizer's EOS or BOS)");
    return { context: [prefixId], continuation: encode(cont) };
  }
  const whole = encode(ctx + cont);
  const contextIds = encode(ctx);
  return { context: contextIds, continuation: whole.slice(contextIds.length) };
}

/**
 * Log-likelihoods of several continuations of one context each, in one batched forward: rows are
 * padded on the right (padding comes after every scored position, so causal attention never sees it).
 */
export async function loglikelihoods(
  model: LanguageModel,
  requests: readonly { context: readonly number[]; continuation: readonly number[] }[],
  options: LoglikelihoodOptions = {},
): Promise<Loglikelihood[]> {
  const maxLength = options.maxLength ?? model.config.maxPositions;
  if (!Number.isFinite(maxLength)) throw new TrainError("loglikelihoods: give maxLength for a model whose maxPositions is unbounded");
  const rows = requests.map(({ context, continuation }, i) => {
    if (continuation.length === 0) throw new TrainError(`loglikelihoods: request ${i} has an empty continuation`);
    if (continuation.length > maxLength)
      throw new TrainError(`loglikelihoods: request ${i}: continuation of ${continuation.length} tokens exceeds maxLength ${maxLength}`);
    // lm-eval: (context + continuation)[-(maxLength + 1):][:-1]
    const all = [...context, ...continuation].slice(-(maxLength + 1));
    return { input: all.slice(0, -1), targets: all.slice(-continuation.length), scoredFrom: all.length - 1 - continuation.length };
  });
  const width = Math.max(...rows.map((r) => r.input.length));
  const ids = new Int32Array(rows.length * width);
  rows.forEach((r, i) => ids.set(r.input, i * width));
  const logProbs = noGrad(() => tidy(() => model.forward(tensor(ids, { shape: [rows.length, width], dtype: "int32" })).logSoftmax(-1)));
  const values = (await logProbs.data()) as Float32Array;
  logProbs.dispose();
  const vocab = logProbs.shape[2]!;
  return rows.map((r, i) => {
    let ll = 0;
    let greedy = true;
    r.targets.forEach((target, k) => {
      const offset = (i * width + r.scoredFrom + k) * vocab;
      const row = values.subarray(offset, offset + vocab);
      ll += row[target]!;
      for (let v = 0; v < vocab; v++) if (row[v]! > row[target]!) greedy = false;
    });
    return { logLikelihood: ll, isGreedy: greedy, tokens: r.targets.length };
  });
}
