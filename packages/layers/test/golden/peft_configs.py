"""Writes peft_configs.json: adapter_config.json exactly as peft 0.21 writes it, for LoRA configs
that exercise every field our LoRA reads and writes (the lora tests compare our writer with it).

Run from the repository root, in a venv with peft==0.21.0 (see docs/alignment.md):
    PYTHONHASHSEED=0 python packages/layers/test/golden/peft_configs.py
"""

import json
import os
import tempfile

import peft
from peft import LoraConfig

assert peft.__version__ == "0.21.0", peft.__version__

CASES = {
    # rsLoRA, a float dropout, a one-entry target list
    "rslora": dict(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj"], use_rslora=True),
    # a regex over whole names, a regex of excluded names, gaussian init
    "regex": dict(
        r=4,
        lora_alpha=8,
        target_modules=r"model\.layers\.\d+\.(self_attn\.(q|v)_proj|mlp\.down_proj)",
        exclude_modules=r".*\.1\.mlp\.down_proj",
        init_lora_weights="gaussian",
    ),
    # per-module ranks and alphas, layers_to_transform with layers_pattern, a non-ASCII base path
    "patterns": dict(
        r=8,
        lora_alpha=16,
        lora_dropout=0.1,
        target_modules=["down_proj"],
        rank_pattern={"layers.1.mlp.down_proj": 2},
        alpha_pattern={"down_proj": 4.5},
        layers_to_transform=[1],
        layers_pattern="layers",
        base_model_name_or_path="models/llamä",
    ),
    # GPT-2's Conv1D layers: fan_in_fan_out
    "conv1d": dict(r=2, lora_alpha=4, target_modules=["c_attn"], fan_in_fan_out=True),
}

out = {}
for name, kwargs in CASES.items():
    config = LoraConfig(task_type="CAUSAL_LM", **kwargs)
    # save_pretrained on a PeftModel sets inference_mode = True before writing; do the same here
    config.inference_mode = True
    with tempfile.TemporaryDirectory() as d:
        config.save_pretrained(d)
        with open(os.path.join(d, "adapter_config.json"), encoding="utf-8") as f:
            out[name] = {"kwargs": kwargs, "text": f.read()}

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "peft_configs.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, indent=2, ensure_ascii=False)
    f.write("\n")
