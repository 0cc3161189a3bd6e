"""Writes gpt2_lora/: a LoRA adapter made by peft 0.21 on fixtures/models/gpt2 that uses what the
llama fixture does not (GPT-2's Conv1D layers with fan_in_fan_out, "all-linear", rsLoRA, per-module
rank and alpha patterns), and what peft computes with it: logits, and logits after merge_and_unload.

Run from the repository root, in a venv with torch 2.13 (cpu), transformers 5.17 and peft 0.21
(see docs/alignment.md):
    PYTHONHASHSEED=0 python packages/train/test/golden/peft_gpt2_lora.py
"""

import os

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import GPT2LMHeadModel

assert peft.__version__ == "0.21.0" and transformers.__version__ == "5.17.0", (peft.__version__, transformers.__version__)

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "gpt2_lora")
base_dir = "fixtures/models/gpt2"
torch.manual_seed(0)

model = GPT2LMHeadModel.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager").eval()
config = LoraConfig(
    r=4,
    lora_alpha=6,
    target_modules="all-linear",
    use_rslora=True,
    rank_pattern={"h.1.mlp.c_fc": 2},
    alpha_pattern={"mlp.c_proj": 3},
    lora_dropout=0.0,
    fan_in_fan_out=True,
    task_type="CAUSAL_LM",
)
peft_model = get_peft_model(model, config)
with torch.no_grad():
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            p.normal_(0.0, 0.2)  # so the adapter matters (B starts at zero otherwise)
peft_model.save_pretrained(out)
os.remove(os.path.join(out, "README.md"))  # the empty model card save_pretrained adds

input_ids = load_file(os.path.join(base_dir, "reference.safetensors"))["input_ids"].long()
with torch.no_grad():
    logits = peft_model(input_ids).logits
    fresh = GPT2LMHeadModel.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager").eval()
    merged = PeftModel.from_pretrained(fresh, out).merge_and_unload()
    merged_logits = merged(input_ids).logits
save_file(
    {"input_ids": input_ids.int().contiguous(), "logits": logits.contiguous(), "merged_logits": merged_logits.contiguous()},
    os.path.join(out, "reference.safetensors"),
)
print("wrote", out, "max |logits - merged|", (logits - merged_logits).abs().max().item())
