"""Golden logits for rope scaling in GPT-NeoX and Falcon, from transformers 5.17 (torch, float32).

One tiny model per family (random weights, seeded), saved once; then, for each rope scaling
transformers accepts for the family, the config.json it reads and the logits it computes on a
24-token input (longer than max_position_embeddings = 16, so dynamic scaling and longrope's long
factors are in play). packages/models/test/rope_families.test.ts loads the same weights with each
config and compares.

    python packages/models/test/golden/rope_families.py   # writes rope_families/
"""

import json
import os
import shutil
import tempfile

import torch
from transformers import FalconConfig, FalconForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rope_families")
MAX_POSITIONS = 16
SEQUENCE = 24


def scalings(rotary_dim):
    half = rotary_dim // 2
    return {
        "default": {"rope_type": "default"},
        "linear": {"rope_type": "linear", "factor": 2.0},
        "dynamic": {"rope_type": "dynamic", "factor": 8.0},
        "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4},
        "llama3": {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8,
        },
        "longrope": {
            "rope_type": "longrope",
            "short_factor": [1.0 + 0.1 * i for i in range(half)],
            "long_factor": [1.5 + 0.25 * i for i in range(half)],
            "original_max_position_embeddings": 8,
        },
    }


FAMILIES = {
    "gpt_neox": (
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        dict(
            vocab_size=64,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=48,
            max_position_embeddings=MAX_POSITIONS,
            use_parallel_residual=True,
            tie_word_embeddings=False,
        ),
        0.5,  # partial_rotary_factor: 8 of the 16 head dims
    ),
    "falcon": (
        FalconConfig,
        FalconForCausalLM,
        dict(
            vocab_size=64,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_kv_heads=2,
            new_decoder_architecture=True,
            max_position_embeddings=MAX_POSITIONS,
            alibi=False,
            bias=False,
        ),
        1.0,
    ),
}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    torch.manual_seed(0)
    ids = torch.randint(0, 64, (1, SEQUENCE))
    golden = {"input_ids": ids[0].tolist(), "families": {}}
    for family, (config_class, model_class, sizes, fraction) in FAMILIES.items():
        head_dim = sizes["hidden_size"] // sizes["num_attention_heads"]
        rotary_dim = int(head_dim * fraction)
        cases = {}
        base = None
        for name, rope in scalings(rotary_dim).items():
            params = {**rope, "rope_theta": 10000.0}
            if family == "gpt_neox":
                params["partial_rotary_factor"] = fraction
            config = config_class(**sizes, rope_parameters=params)
            torch.manual_seed(1)
            model = model_class(config).eval()
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_(0, 0.2)
            if base is None:
                base = {k: v.clone() for k, v in model.state_dict().items()}
                tmp = tempfile.mkdtemp()
                model.save_pretrained(tmp)
                shutil.copy(os.path.join(tmp, "model.safetensors"), os.path.join(OUT, f"{family}.safetensors"))
                shutil.rmtree(tmp)
            else:
                model.load_state_dict(base, strict=False)
            with torch.no_grad():
                logits = model(ids).logits[0]
            saved = config.to_dict()
            cases[name] = {"config": {k: saved[k] for k in sorted(saved) if not k.startswith("_")}, "logits": [[float(f"{x:.8g}") for x in row] for row in logits.tolist()]}
        golden["families"][family] = cases
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f)


if __name__ == "__main__":
    main()
