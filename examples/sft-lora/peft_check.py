"""Checks that Python's peft loads the adapter run.mjs saved and computes what we computed.

    python examples/sft-lora/peft_check.py [OUT]      (OUT defaults to out/sft-lora)

Reads OUT/adapter (adapter_config.json + adapter_model.safetensors, written by saveLoraAdapter),
the base model it names (base_model_name_or_path: the demo's checkpoint), and OUT/check.safetensors
(input ids and our logits with the adapter); loads base + adapter with transformers and peft, and
compares the logits, then the logits after merge_and_unload(). Needs torch, transformers and peft
(see docs/alignment.md for the versions used); CI does not run it.
"""

import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

out = sys.argv[1] if len(sys.argv) > 1 else "out/sft-lora"
adapter = os.path.join(out, "adapter")
with open(os.path.join(adapter, "adapter_config.json")) as f:
    base = json.load(f)["base_model_name_or_path"]
check = load_file(os.path.join(out, "check.safetensors"))

model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager").eval()
peft_model = PeftModel.from_pretrained(model, adapter).eval()
adapted = [n for n, _ in peft_model.named_modules() if n.endswith("lora_A.default")]
with torch.no_grad():
    logits = peft_model(check["input_ids"].long()).logits
    merged = peft_model.merge_and_unload()(check["input_ids"].long()).logits
diff = (logits - check["logits"]).abs().max().item()
merged_diff = (merged - check["logits"]).abs().max().item()
print(f"peft loaded {adapter}: {len(adapted)} adapted layers; max |peft logits - ours| = {diff:.2e}, after merge_and_unload {merged_diff:.2e}")
sys.exit(0 if diff < 1e-4 and merged_diff < 1e-4 else 1)
