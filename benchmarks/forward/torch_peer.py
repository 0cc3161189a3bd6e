"""The PyTorch side of `pnpm bench:forward`, in a process of its own: the model of <dir> (GPT-2 or
LLaMA, from its config.json and model.safetensors, float32) written out in plain torch with a KV
cache, timed on the same work as ours: the prompt in one forward with the head on its last position
(prefill), then greedy decoding token by token. Runs on /usr/bin/python3 (Debian's python3-torch).
Usage: torch_peer.py <dir> <threads> <prompt tokens> <decode tokens>; prints one JSON line."""
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

directory, threads, prompt_len, decode_steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
cfg = json.load(open(f"{directory}/config.json"))


def load_safetensors(path):
    """Every tensor as a torch view of one array holding the file's data (read once)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = np.fromfile(f, dtype=np.uint8)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(data[b:e].view(np.float32).reshape(info["shape"]))
    return out


start = time.perf_counter()
W = load_safetensors(f"{directory}/model.safetensors")
load_ms = (time.perf_counter() - start) * 1e3


def prompt_ids(n, vocab, seed):
    """The same ids as prompt.mjs."""
    s, out = seed, []
    for _ in range(n):
        s = (s * 1664525 + 1013904223) % 2**32
        out.append(3 + s % (vocab - 3))
    return out


def attend(q, k, v, causal):
    """q [H, T, d], k/v [Hkv, S, d]: softmax(q k^T / sqrt(d), causal over the last T keys) v."""
    group = q.shape[0] // k.shape[0]
    if group > 1:
        k = k.repeat_interleave(group, 0)
        v = v.repeat_interleave(group, 0)
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    if causal:
        T, S = q.shape[1], k.shape[1]
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


class Gpt2:
    def __init__(self):
        self.D, self.H, self.L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)

    def forward(self, ids, cache, past):
        D, H = self.D, self.H
        T = len(ids)
        x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][past : past + T]
        for i in range(self.L):
            p = f"transformer.h.{i}."
            h = F.layer_norm(x, (D,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], self.eps)
            qkv = torch.addmm(W[p + "attn.c_attn.bias"], h, W[p + "attn.c_attn.weight"])
            q, k, v = (t.view(T, H, D // H).transpose(0, 1) for t in qkv.split(D, 1))
            k = torch.cat([cache[i][0], k], 1) if past else k
            v = torch.cat([cache[i][1], v], 1) if past else v
            cache[i] = (k, v)
            y = attend(q, k, v, T > 1).transpose(0, 1).reshape(T, D)
            x = x + torch.addmm(W[p + "attn.c_proj.bias"], y, W[p + "attn.c_proj.weight"])
            h = F.layer_norm(x, (D,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], self.eps)
            h = F.gelu(torch.addmm(W[p + "mlp.c_fc.bias"], h, W[p + "mlp.c_fc.weight"]), approximate="tanh")
            x = x + torch.addmm(W[p + "mlp.c_proj.bias"], h, W[p + "mlp.c_proj.weight"])
        x = F.layer_norm(x[-1:], (D,), W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], self.eps)
        return x @ W["transformer.wte.weight"].T


class Llama:
    def __init__(self):
        self.D, self.H, self.Hkv, self.L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        d = self.D // self.H
        inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        angles = torch.outer(torch.arange(cfg["max_position_embeddings"], dtype=torch.float32), inv)
        self.cos, self.sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, past):
        T, half = x.shape[1], x.shape[-1] // 2
        cos, sin = self.cos[past : past + T], self.sin[past : past + T]
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def forward(self, ids, cache, past):
        D, H, Hkv = self.D, self.H, self.Hkv
        d, T = D // H, len(ids)
        x = W["model.embed_tokens.weight"][ids]
        for i in range(self.L):
            p = f"model.layers.{i}."
            h = self.rms(x, W[p + "input_layernorm.weight"])
            q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, H, d).transpose(0, 1)
            k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, Hkv, d).transpose(0, 1)
            v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, Hkv, d).transpose(0, 1)
            q, k = self.rope(q, past), self.rope(k, past)
            k = torch.cat([cache[i][0], k], 1) if past else k
            v = torch.cat([cache[i][1], v], 1) if past else v
            cache[i] = (k, v)
            y = attend(q, k, v, T > 1).transpose(0, 1).reshape(T, D)
            x = x + y @ W[p + "self_attn.o_proj.weight"].T
            h = self.rms(x, W[p + "post_attention_layernorm.weight"])
            h = F.silu(h @ W[p + "mlp.gate_proj.weight"].T) * (h @ W[p + "mlp.up_proj.weight"].T)
            x = x + h @ W[p + "mlp.down_proj.weight"].T
        return self.rms(x[-1:], W["model.norm.weight"]) @ W["lm_head.weight"].T


model = Gpt2() if cfg["model_type"] == "gpt2" else Llama()


def run(prompt, steps):
    cache = [None] * model.L
    with torch.inference_mode():
        c0, t0 = time.process_time(), time.perf_counter()
        logits = model.forward(prompt, cache, 0)
        token = int(logits[-1].argmax())
        c1, t1 = time.process_time(), time.perf_counter()
        for i in range(steps):
            logits = model.forward([token], cache, len(prompt) + i)
            token = int(logits[-1].argmax())
        c2, t2 = time.process_time(), time.perf_counter()
    return t1 - t0, t2 - t1, c1 - c0, c2 - c1


# Warm-up: the same work once on another prompt, as every contender does (ours.mjs says why).
prompt = prompt_ids(prompt_len, cfg["vocab_size"], 1)
run(prompt_ids(prompt_len, cfg["vocab_size"], 2), decode_steps)
prefill, decode, prefill_cpu, decode_cpu = run(prompt, decode_steps)
print(
    json.dumps(
        {
            "prefillTokensPerS": prompt_len / prefill,
            "decodeTokensPerS": decode_steps / decode,
            "prefillTokensPerCpuS": prompt_len / prefill_cpu,
            "decodeTokensPerCpuS": decode_steps / decode_cpu,
            "loadMs": load_ms,
            "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "torch": torch.__version__,
        }
    )
)
