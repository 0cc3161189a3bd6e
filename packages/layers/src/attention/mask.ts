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

/**
 * `mask` (over keys [0, keyEnd), or null: every key) narrowed to a sliding window and to the keys
 * a windowed cache still holds, [keyStart, keyEnd): the query at position p (the last
 * `queryLength` positions before keyEnd) sees key k only if p - k < window, as transformers'
 * sliding_window_overlay. Null or the mask as it is when the window excludes none of the keys.
 */
export function slidingWindowMask(mask: Tensor | null, queryLength: number, keyEnd: number, window: number, keyStart = 0): Tensor | null {
  const held = mask && keyStart > 0 ? mask.slice(-1, keyStart) : mask;
  // the farthest pair (last query, first key) is inside the window: so is every pair
  if (keyStart > keyEnd - 1 - window) return held;
  const keyLength = keyEnd - keyStart;
  const queries = arange(keyEnd - queryLength, keyEnd).reshape(queryLength, 1);
  const keys = arange(keyStart, keyEnd).reshape(1, keyLength);
  const band = keys.gt(queries.sub(window)).reshape(1, 1, queryLength, keyLength);
  return held ? held.logicalAnd(band) : band;
}
