import { arange, causalMask, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";

/**
 * The bool mask attention applies, shaped to broadcast over [batch, heads, queries, keys]
 * (true = may attend), or null when every query sees every key (one new token, no padding).
 * `attentionMask` is ForwardOptions.attentionMask: a padding mask [batch, keys] combined with the
 * causal mask, or a full mask [batch, queries, keys] / [batch, 1, queries, keys] used as given.
 */
export function buildAttentionMask(queryLength: number, keyLength: number, attentionMask?: Tensor): Tensor | null {
  if (!attentionMask) return queryLength === 1 ? null : causalMask(queryLength, keyLength).reshape(1, 1, queryLength, keyLength);
  const allowed = attentionMask.dtype === "bool" ? attentionMask : attentionMask.ne(0);
  const shape = allowed.shape;
  const batch = shape[0]!;
  if (allowed.rank === 2 && shape[1] === keyLength) {
    const padding = allowed.reshape(batch, 1, 1, keyLength);
    return causalMask(queryLength, keyLength).reshape(1, 1, queryLength, keyLength).logicalAnd(padding);
  }
  if (allowed.rank === 3 && shape[1] === queryLength && shape[2] === keyLength) return allowed.unsqueeze(1);
  if (allowed.rank === 4 && shape[1] === 1 && shape[2] === queryLength && shape[3] === keyLength) return allowed;
  throw new LayerArgumentError(
    `attentionMask: expected [batch, ${keyLength}] (padding), [batch, ${queryLength}, ${keyLength}] or [batch, 1, ${queryLength}, ${keyLength}], found [${shape.join(",")}]`,
  );
}

/**
 * Position ids for the new tokens when the caller gives none: past, past + 1, ... or, with a
 * padding mask [batch, keys], the count of real tokens before each one (left padding shifts
 * nothing), as Hugging Face's generate does.
 */
export function defaultPositionIds(batch: number, queryLength: number, pastLength: number, attentionMask?: Tensor): Tensor {
  if (attentionMask && attentionMask.rank === 2 && attentionMask.shape[1] === pastLength + queryLength) {
    const real = (attentionMask.dtype === "bool" ? attentionMask : attentionMask.ne(0)).int();
    return real.cumsum(1).sub(1).maximum(0).slice(1, pastLength);
  }
  return arange(pastLength, pastLength + queryLength)
    .reshape(1, queryLength)
    .expand(batch, queryLength);
}
