/**
 * The weights of the model llama-quantize quantized for this golden (make.mjs) and the tests read
 * back: each value a function of the tensor's name and the value's index only (no library RNG whose
 * changes would move them), roughly normal with standard deviation `std`, so the float32 weights
 * can be rebuilt exactly wherever the quantized bytes are compared.
 */

/** A llama whose rows are all whole 256-value super-blocks (K-quants need them), two layers. */
export const CONFIG = {
  model_type: "llama",
  hidden_size: 256,
  intermediate_size: 256,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_hidden_layers: 2,
  vocab_size: 300,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
};

/** FNV-1a of a string: each tensor's own stream. */
function seedOf(name) {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h || 1;
}

/**
 * `count` float32 values for tensor `name`: the sum of four xorshift32 uniforms, centred and scaled
 * (variance 4/12 before scaling); norms (rank 1) are 1 plus a tenth of that.
 */
export function goldenValues(name, count, rank) {
  const out = new Float32Array(count);
  let s = seedOf(name);
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const std = 0.08;
  const scale = std / Math.sqrt(4 / 12);
  for (let i = 0; i < count; i++) {
    const v = (uniform() + uniform() + uniform() + uniform() - 2) * scale;
    out[i] = rank === 1 ? 1 + v / 10 : v;
  }
  return out;
}
