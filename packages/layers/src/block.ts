import { tidy, type Tensor } from "@llm/tensor";
import type { Attention, AttentionContext } from "./attention/attention.js";
import type { LayerKVCache } from "./cache.js";
import { LayerArgumentError } from "./errors.js";
import type { FeedForward } from "./mlp.js";
import { Module } from "./module.js";
import type { Norm } from "./norms.js";

/**
 * Where the norms and residuals sit:
 *  - "pre-ln": x + attn(norm1(x)), then h + mlp(norm2(h)) (GPT-2, OPT, LLaMA, BLOOM, MPT, GLM)
 *  - "pre-ln-residual-from-norm": as pre-ln, but each residual starts from the norm's output
 *    (BLOOM's apply_residual_connection_post_layernorm)
 *  - "post-ln": norm1(x + attn(x)), then norm2(h + mlp(h)) (OPT-350m's do_layer_norm_before=false)
 *  - "parallel": x + attn(norm1(x)) + mlp(norm1(x)), one norm (GPT-J, Falcon-7B)
 *  - "parallel-two-norms": x + attn(norm1(x)) + mlp(norm2(x)) (GPT-NeoX, Falcon-40B)
 *  - "sandwich": norms before and after each sublayer, x + attnOut(attn(norm1(x))), then
 *    h + mlpOut(mlp(norm2(h))) (Gemma 2)
 */
export type ResidualLayout = "pre-ln" | "pre-ln-residual-from-norm" | "post-ln" | "parallel" | "parallel-two-norms" | "sandwich";

export interface BlockParts {
  attention: [name: string, module: Attention];
  mlp: [name: string, module: FeedForward];
  norm1: [name: string, module: Norm];
  /** Absent only for "parallel". */
  norm2?: [name: string, module: Norm];
  /** "sandwich" only: applied to the attention's output before the residual. */
  attentionOutputNorm?: [name: string, module: Norm];
  /** "sandwich" only: applied to the MLP's output before the residual. */
  mlpOutputNorm?: [name: string, module: Norm];
}

/** One transformer layer: attention and MLP with their norms and residuals, names as the checkpoint's. */
export class TransformerBlock extends Module {
  readonly attention: Attention;
  readonly mlp: FeedForward;
  readonly norm1: Norm;
  readonly norm2: Norm | null;
  readonly attentionOutputNorm: Norm | null;
  readonly mlpOutputNorm: Norm | null;

  constructor(
    parts: BlockParts,
    readonly residual: ResidualLayout,
  ) {
    super();
    // Registration order follows the parts as given, so stateDict reads like the checkpoint.
    this.norm1 = this.addModule(...parts.norm1);
    this.attention = this.addModule(...parts.attention);
    this.attentionOutputNorm = parts.attentionOutputNorm ? this.addModule(...parts.attentionOutputNorm) : null;
    this.norm2 = parts.norm2 ? this.addModule(...parts.norm2) : null;
    this.mlp = this.addModule(...parts.mlp);
    this.mlpOutputNorm = parts.mlpOutputNorm ? this.addModule(...parts.mlpOutputNorm) : null;
    const norms = [this.norm1, this.norm2, this.attentionOutputNorm, this.mlpOutputNorm].filter((n) => n !== null).length;
    const expected = residual === "parallel" ? 1 : residual === "sandwich" ? 4 : 2;
    const outputNorms = (this.attentionOutputNorm ? 1 : 0) + (this.mlpOutputNorm ? 1 : 0);
    if (norms !== expected || (residual !== "sandwich" && outputNorms > 0) || (residual !== "parallel" && !this.norm2)) {
      const takes = { 1: "takes one norm (norm1)", 2: "needs norm1 and norm2", 4: "needs norm1, norm2 and both output norms" }[expected];
      throw new LayerArgumentError(`TransformerBlock: a "${residual}" block ${takes}, found ${norms}`);
    }
  }

  forward(x: Tensor, context: AttentionContext, cache?: LayerKVCache): Tensor {
    // each sublayer in a scope of its own: its temporaries (the attention's projected heads, the
    // MLP's wide activations) are freed as it returns, not when the block does (without autograd)
    const attend = (h: Tensor) => tidy(() => this.attention.forward(h, context, cache));
    const feed = (h: Tensor) => tidy(() => this.mlp.forward(h));
    const norm2 = this.norm2;
    switch (this.residual) {
      case "pre-ln": {
        const h = x.add(attend(this.norm1.forward(x)));
        return h.add(feed(norm2!.forward(h)));
      }
      case "pre-ln-residual-from-norm": {
        const n1 = this.norm1.forward(x);
        const h = n1.add(attend(n1));
        const n2 = norm2!.forward(h);
        return n2.add(feed(n2));
      }
      case "post-ln": {
        const h = this.norm1.forward(x.add(attend(x)));
        return norm2!.forward(h.add(feed(h)));
      }
      case "parallel": {
        const n = this.norm1.forward(x);
        return x.add(attend(n)).add(feed(n));
      }
      case "parallel-two-norms":
        return x.add(attend(this.norm1.forward(x))).add(feed(norm2!.forward(x)));
      case "sandwich": {
        const h = x.add(this.attentionOutputNorm!.forward(attend(this.norm1.forward(x))));
        return h.add(this.mlpOutputNorm!.forward(feed(norm2!.forward(h))));
      }
    }
  }
}
