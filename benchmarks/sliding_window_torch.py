"""The transformers side of `pnpm bench:sliding-window`: loads the checkpoint @llm saved, decodes
greedily with transformers' cache (sliding layers keep their window), and prints one JSON line with
the per-step milliseconds, the ids and the keys and values its cache holds at the end."""
import json
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, DynamicCache

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
model = AutoModelForCausalLM.from_pretrained(cfg["dir"], dtype=torch.float32, attn_implementation="eager").eval()
ids, ms = [], []
with torch.no_grad():
    cache = DynamicCache(config=model.config)
    logits = model(torch.tensor([cfg["prompt"]]), past_key_values=cache, use_cache=True).logits
    for _ in range(cfg["steps"]):
        start = time.perf_counter()
        token = int(logits[0, -1].argmax())
        logits = model(torch.tensor([[token]]), past_key_values=cache, use_cache=True).logits
        ms.append((time.perf_counter() - start) * 1e3)
        ids.append(token)
held = sum(layer.keys.numel() * 4 + layer.values.numel() * 4 for layer in cache.layers)
print(json.dumps({"ms": ms, "ids": ids, "held_kv_bytes": held, "torch": torch.__version__, "transformers": transformers.__version__}))
