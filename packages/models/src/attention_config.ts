import type { ConfigReader } from "./config.js";

export interface HeadCounts {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * hidden_size, num_attention_heads, num_key_value_heads (default: as many as heads) and head_dim,
 * as the llama-style families name them. head_dim defaults to the family's transformers default
 * (Qwen3 128, Gemma 2 256) or else hidden / heads, which must then divide evenly.
 */
export function headCounts(c: ConfigReader, headDimDefault?: number): HeadCounts {
  const hidden = c.int("hidden_size");
  const heads = c.int("num_attention_heads");
  const kvHeads = c.int("num_key_value_heads", heads);
  c.divisible("num_attention_heads", heads, kvHeads, "num_key_value_heads");
  if (!c.has("head_dim") && headDimDefault === undefined) c.divisible("hidden_size", hidden, heads, "num_attention_heads");
  const headDim = c.int("head_dim", headDimDefault ?? hidden / heads);
  return { hidden, heads, kvHeads, headDim };
}

/**
 * Which layers attend through a sliding window, and how wide, by each family's rule:
 *  - "every-layer": `sliding_window` for all layers (Mistral, Phi-3); null means none
 *  - "qwen": only with `use_sliding_window`; the layers `layer_types` names "sliding_attention",
 *    or else those from `max_window_layers` on (Qwen2, Qwen3)
 *  - "gemma2": the layers `layer_types` names "sliding_attention", or else every other one from
 *    the first (Gemma 2)
 * `windowDefault` is the family's `sliding_window` when config.json leaves the key out.
 */
export function layerWindows(
  c: ConfigReader,
  layerCount: number,
  rule: "every-layer" | "qwen" | "gemma2",
  windowDefault: number | null,
): (number | null)[] {
  const written = configuredWindow(c, windowDefault);
  if (rule === "every-layer") return Array.from({ length: layerCount }, () => written);
  const window = rule === "qwen" && !c.bool("use_sliding_window", false) ? null : written;
  const types = c.has("layer_types") ? layerTypes(c, layerCount) : null;
  if (rule === "qwen") {
    const first = types ? 0 : c.int("max_window_layers", 28);
    return Array.from({ length: layerCount }, (_, i) => {
      const sliding = types ? types[i] === "sliding_attention" : i >= first;
      return sliding ? window : null;
    });
  }
  return Array.from({ length: layerCount }, (_, i) => ((types ? types[i] === "sliding_attention" : i % 2 === 0) ? window : null));
}

/** sliding_window: null in config.json means none; only a missing key takes the family's default. */
function configuredWindow(c: ConfigReader, windowDefault: number | null): number | null {
  if (c.raw.sliding_window === null || (windowDefault === null && !c.has("sliding_window"))) return null;
  return c.int("sliding_window", windowDefault ?? undefined);
}

/** layer_types: one of "full_attention" or "sliding_attention" per layer. */
function layerTypes(c: ConfigReader, layerCount: number): string[] {
  const types = c.strings("layer_types");
  c.require(
    "layer_types",
    types.length === layerCount && types.every((t) => t === "full_attention" || t === "sliding_attention"),
    `a list of ${layerCount} entries (num_hidden_layers), each "full_attention" or "sliding_attention"`,
  );
  return types;
}
