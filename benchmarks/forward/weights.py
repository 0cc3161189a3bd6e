"""Writes the random-weight models `pnpm bench:forward` runs: one folder per shape holding the same
float32 weights twice, as a Hugging Face checkpoint (config.json + model.safetensors, what
@llm/models and the PyTorch peer load) and as a GGUF file (model.gguf, what llama.cpp loads),
written by the `gguf` package. Each tensor is drawn from its own seeded generator, one at a time,
so writing a 4.4 GB model needs one tensor's memory. Usage: forward_weights.py <gpt2|tinyllama> <dir>

Until @llm/tensor writes GGUF itself (the quantization issue), this script is how the llama.cpp
side of the benchmark gets its file. Needs numpy and gguf (the local wheelhouse has both).
"""

import json
import os
import struct
import sys
import zlib

import numpy as np
import gguf

SHAPES = {
    "gpt2": dict(arch="gpt2", vocab=50257, context=1024, width=768, layers=12, heads=12, kv_heads=12, ffn=3072),
    "tinyllama": dict(arch="llama", vocab=32000, context=2048, width=2048, layers=22, heads=32, kv_heads=4, ffn=5632),
}


def tensors(s):
    """(Hugging Face name, GGUF name, numpy shape in GGUF's [out, in] order, how HF stores it)."""
    V, C, D, L, F = s["vocab"], s["context"], s["width"], s["layers"], s["ffn"]
    Dkv = D // s["heads"] * s["kv_heads"]
    out = []
    if s["arch"] == "gpt2":
        out += [("transformer.wte.weight", "token_embd.weight", (V, D), "as_is"), ("transformer.wpe.weight", "position_embd.weight", (C, D), "as_is")]
        for i in range(L):
            h, b = f"transformer.h.{i}", f"blk.{i}"
            for hf, gg, shape in [
                ("ln_1.weight", "attn_norm.weight", (D,)), ("ln_1.bias", "attn_norm.bias", (D,)),
                ("attn.c_attn.weight", "attn_qkv.weight", (3 * D, D)), ("attn.c_attn.bias", "attn_qkv.bias", (3 * D,)),
                ("attn.c_proj.weight", "attn_output.weight", (D, D)), ("attn.c_proj.bias", "attn_output.bias", (D,)),
                ("ln_2.weight", "ffn_norm.weight", (D,)), ("ln_2.bias", "ffn_norm.bias", (D,)),
                ("mlp.c_fc.weight", "ffn_up.weight", (F, D)), ("mlp.c_fc.bias", "ffn_up.bias", (F,)),
                ("mlp.c_proj.weight", "ffn_down.weight", (D, F)), ("mlp.c_proj.bias", "ffn_down.bias", (D,)),
            ]:
                # GPT-2's Conv1D keeps its weights [in, out]: the transpose of GGUF's [out, in]
                out.append((f"{h}.{hf}", f"{b}.{gg}", shape, "transposed" if len(shape) == 2 else "as_is"))
        out += [("transformer.ln_f.weight", "output_norm.weight", (D,), "as_is"), ("transformer.ln_f.bias", "output_norm.bias", (D,), "as_is")]
    else:
        out.append(("model.embed_tokens.weight", "token_embd.weight", (V, D), "as_is"))
        for i in range(L):
            h, b = f"model.layers.{i}", f"blk.{i}"
            # llama.cpp's rotary pairs q/k rows differently from transformers: its converter
            # permutes those rows, and so does this script, so both files hold the same model
            out += [
                (f"{h}.input_layernorm.weight", f"{b}.attn_norm.weight", (D,), "as_is"),
                (f"{h}.self_attn.q_proj.weight", f"{b}.attn_q.weight", (D, D), ("rope", s["heads"])),
                (f"{h}.self_attn.k_proj.weight", f"{b}.attn_k.weight", (Dkv, D), ("rope", s["kv_heads"])),
                (f"{h}.self_attn.v_proj.weight", f"{b}.attn_v.weight", (Dkv, D), "as_is"),
                (f"{h}.self_attn.o_proj.weight", f"{b}.attn_output.weight", (D, D), "as_is"),
                (f"{h}.post_attention_layernorm.weight", f"{b}.ffn_norm.weight", (D,), "as_is"),
                (f"{h}.mlp.gate_proj.weight", f"{b}.ffn_gate.weight", (F, D), "as_is"),
                (f"{h}.mlp.up_proj.weight", f"{b}.ffn_up.weight", (F, D), "as_is"),
                (f"{h}.mlp.down_proj.weight", f"{b}.ffn_down.weight", (D, F), "as_is"),
            ]
        out += [("model.norm.weight", "output_norm.weight", (D,), "as_is"), ("lm_head.weight", "output.weight", (V, D), "as_is")]
    return out


def values(name, shape):
    """The HF tensor's values: N(0, 0.02) (norm weights 1, biases 0, as the models initialise)."""
    if name.endswith("norm.weight") or ".ln_" in name and name.endswith(".weight"):
        return np.ones(shape, dtype=np.float32)
    if name.endswith(".bias"):
        return np.zeros(shape, dtype=np.float32)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)


def hf_shape(shape, how):
    return (shape[1], shape[0]) if how == "transposed" else shape


def to_gguf(hf, how):
    if how == "transposed":
        return np.ascontiguousarray(hf.T)
    if isinstance(how, tuple):  # convert_hf_to_gguf's permute for rotary q/k rows
        heads = how[1]
        return np.ascontiguousarray(hf.reshape(heads, 2, hf.shape[0] // heads // 2, *hf.shape[1:]).swapaxes(1, 2).reshape(hf.shape))
    return hf


def config(s):
    if s["arch"] == "gpt2":
        return dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=s["vocab"], n_positions=s["context"], n_embd=s["width"],
                    n_layer=s["layers"], n_head=s["heads"], n_inner=s["ffn"], activation_function="gelu_new", layer_norm_epsilon=1e-5,
                    tie_word_embeddings=True)
    return dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=s["vocab"], hidden_size=s["width"],
                intermediate_size=s["ffn"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                num_key_value_heads=s["kv_heads"], max_position_embeddings=s["context"], rms_norm_eps=1e-5, rope_theta=10000.0,
                hidden_act="silu", tie_word_embeddings=False)


def write_safetensors(path, items):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for hf, _, shape, how in items:
        n = 4 * int(np.prod(hf_shape(shape, how)))
        header[hf] = {"dtype": "F32", "shape": list(hf_shape(shape, how)), "data_offsets": [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for hf, _, shape, how in items:
            f.write(values(hf, hf_shape(shape, how)).tobytes())
    os.replace(path + ".tmp", path)


def write_gguf(path, s, items):
    w = gguf.GGUFWriter(path + ".tmp", s["arch"])
    arch = s["arch"]
    w.add_name(f"random {arch} ({s['layers']} layers, width {s['width']})")
    w.add_context_length(s["context"])
    w.add_embedding_length(s["width"])
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if arch == "gpt2":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_dimension_count(s["width"] // s["heads"])
        w.add_rope_freq_base(10000.0)
    # a SentencePiece-style vocabulary of placeholders (the benchmark feeds token ids directly)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"t{i}" for i in range(s["vocab"] - len(tokens))]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    types += [gguf.TokenType.NORMAL] * (s["vocab"] - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * s["vocab"])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    for hf, gg, shape, how in items:
        w.add_tensor_info(gg, shape, np.dtype(np.float32), 4 * int(np.prod(shape)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for hf, _, shape, how in items:
        w.write_tensor_data(to_gguf(values(hf, hf_shape(shape, how)), how))
    w.close()
    os.replace(path + ".tmp", path)


def main():
    name, out = sys.argv[1], sys.argv[2]
    s = SHAPES[name]
    os.makedirs(out, exist_ok=True)
    items = tensors(s)
    write_safetensors(os.path.join(out, "model.safetensors"), items)
    write_gguf(os.path.join(out, "model.gguf"), s, items)
    with open(os.path.join(out, "config.json.tmp"), "w") as f:
        json.dump(config(s), f, indent=2)
    os.replace(os.path.join(out, "config.json.tmp"), os.path.join(out, "config.json"))
    params = sum(int(np.prod(shape)) for _, _, shape, _ in items)
    print(json.dumps({"shape": name, "parameters": params, "bytes": 4 * params}))


if __name__ == "__main__":
    main()
