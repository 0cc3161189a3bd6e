import { isGradEnabled, type Tensor } from "@llm/tensor";

/**
 * Frees `used`, an intermediate this layer made, now that `result` (made from it) holds what the
 * rest needs, when no autograd graph can need it (inference). Without this, each temporary of a
 * block lives until the block's tidy scope ends, and the block outputs until the whole forward's:
 * a GPT-2-small prompt of 128 tokens held 12 residual streams and three MLP-wide tensors at once,
 * ~9 MB of the WebAssembly memory its peak RSS counts. A `result` that views `used`'s buffer
 * keeps it (each tensor holds its own reference); one that is `used` itself is not freed.
 */
export function freeIntermediate(used: Tensor, result: Tensor): void {
  if (!isGradEnabled() && used !== result) used.dispose();
}
