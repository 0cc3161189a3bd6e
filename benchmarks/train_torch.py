"""The PyTorch side of `pnpm bench:train`: the same GPT-2-shaped model and step (forward, mean
cross-entropy, backward, AdamW) in plain torch. Prints one JSON line: {"tokens_per_s": ..., ...}."""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
V, T, D, L, H, B = cfg["vocab"], cfg["context"], cfg["width"], cfg["layers"], cfg["heads"], cfg["batch"]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(D)
        self.c_attn = nn.Linear(D, 3 * D)
        self.c_proj = nn.Linear(D, D)
        self.ln_2 = nn.LayerNorm(D)
        self.c_fc = nn.Linear(D, 4 * D)
        self.mlp_proj = nn.Linear(4 * D, D)

    def forward(self, x, mask):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q, k, v = (z.view(b, t, H, D // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, D)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.h = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(D)

    def forward(self, ids):
        t = ids.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        x = self.wte(ids) + self.wpe(torch.arange(t))
        for block in self.h:
            x = block(x, mask)
        return self.ln_f(x) @ self.wte.weight.T  # tied head, as GPT-2


model = GPT()
params = sum(p.numel() for p in model.parameters())
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
ids = torch.randint(0, V, (B, T + 1))


def step():
    opt.zero_grad()
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
    loss.backward()
    opt.step()
    return loss.item()


step()  # warm-up
times, cpu_times = [], []
for _ in range(cfg["steps"]):
    start, cpu = time.perf_counter(), time.process_time()
    step()
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu)
best = min(times)
result = {
    "tokens_per_s": B * T / best,
    "step_ms": best * 1e3,
    "tokens_per_cpu_s": B * T / min(cpu_times),
    "params": params,
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
}
print(json.dumps(result))
