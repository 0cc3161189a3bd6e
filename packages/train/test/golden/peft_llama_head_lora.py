"""Writes llama_head_lora/: a LoRA adapter made by peft 0.21 on fixtures/models/llama that adapts the
output head (lm_head) besides q_proj, with what peft computes with it: logits, and logits after
merge_and_unload().

Run from the repository root, in a venv with torch 2.13 (cpu), transformers 5.17 and peft 0.21
(see docs/alignment.md):
    PYTHONHASHSEED=0 python packages/train/test/golden/peft_llama_head_lora.py
"""

import os

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

assert peft.__version__ == "0.21.0" and transformers.__version__ == "5.17.0", (peft.__version__, transformers.__version__)

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "llama_head_lora")
base_dir = "fixtures/models/llama"
torch.manual_seed(1)

model = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager").eval()
config = LoraConfig(r=2, lora_alpha=4, target_modules=["lm_head", "q_proj"], lora_dropout=0.0, task_type="CAUSAL_LM")
peft_model = get_peft_model(model, config)
with torch.no_grad():
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            p.normal_(0.0, 0.2)
peft_model.save_pretrained(out)
os.remove(os.path.join(out, "README.md"))  # the empty model card save_pretrained adds

input_ids = load_file(os.path.join(base_dir, "reference.safetensors"))["input_ids"].long()
with torch.no_grad():
    logits = peft_model(input_ids).logits
    fresh = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager").eval()
    merged_logits = PeftModel.from_pretrained(fresh, out).merge_and_unload()(input_ids).logits
save_file(
    {"input_ids": input_ids.int().contiguous(), "logits": logits.contiguous(), "merged_logits": merged_logits.contiguous()},
    os.path.join(out, "reference.safetensors"),
)
print("wrote", out, "max |logits - merged|", (logits - merged_logits).abs().max().item())
