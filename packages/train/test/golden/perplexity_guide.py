"""Writes perplexity_guide.json: perplexities computed with the loop of Hugging Face's guide
"Perplexity of fixed-length models" (transformers docs, perplexity.md), unchanged but for the model,
the token ids and max_length/stride, on fixture models, for slidingWindowPerplexity's test.

Run from the repository root, in a venv with torch 2.13 (cpu) and transformers 5.17:
    python packages/train/test/golden/perplexity_guide.py
"""

import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM

assert transformers.__version__ == "5.17.0", transformers.__version__


def guide_perplexity(model, input_ids, max_length, stride):
    # The guide's loop (its variable names), on a [1, seq_len] tensor of ids.
    seq_len = input_ids.size(1)
    nll_sum = 0.0
    n_tokens = 0
    prev_end_loc = 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        ids = input_ids[:, begin_loc:end_loc]
        target_ids = ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            outputs = model(ids, labels=target_ids)
            neg_log_likelihood = outputs.loss
        num_valid_tokens = (target_ids != -100).sum().item()
        batch_size = target_ids.size(0)
        num_loss_tokens = num_valid_tokens - batch_size
        nll_sum += neg_log_likelihood * num_loss_tokens
        n_tokens += num_loss_tokens
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    avg_nll = nll_sum / n_tokens
    return torch.exp(avg_nll).item(), avg_nll.item()


generator = torch.Generator().manual_seed(0)
ids = torch.randint(0, 512, (1, 100), generator=generator)
cases = []
for name in ["gpt2", "llama"]:
    model = AutoModelForCausalLM.from_pretrained(f"fixtures/models/{name}", dtype=torch.float32, attn_implementation="eager").eval()
    for max_length, stride in [(12, 5), (12, 12), (32, 7), (64, 64), (16, 1)]:
        ppl, nll = guide_perplexity(model, ids, max_length, stride)
        cases.append({"model": name, "max_length": max_length, "stride": stride, "perplexity": ppl, "mean_nll": nll})

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "perplexity_guide.json"), "w") as f:
    json.dump({"input_ids": ids[0].tolist(), "cases": cases}, f, indent=1)
    f.write("\n")
print(json.dumps(cases, indent=1))
