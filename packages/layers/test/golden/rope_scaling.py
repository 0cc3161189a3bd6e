"""Writes rope_scaling.json: inverse frequencies, attention factors, and the cos/sin a fresh rotary
module produces, for every rope_type of transformers' modeling_rope_utils, on small configs.

Run from this folder with transformers 5.17 and torch (CPU):
    python rope_scaling.py
The TypeScript tests (../rope_scaling.test.ts) compare our tables with these values; CI never runs Python.
"""

import json
import math

import torch
import transformers
from transformers import LlamaConfig, Phi3Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
from transformers.models.phi3.modeling_phi3 import Phi3RotaryEmbedding


def llama_config(head_dim, rope_parameters, max_positions, **extra):
    return LlamaConfig(
        hidden_size=head_dim * 2,
        num_attention_heads=2,
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        rope_parameters=rope_parameters,
        **extra,
    )


# name -> (config maker, rotary module class, sequence lengths to evaluate at)
CASES = {
    "default": (lambda: llama_config(8, {"rope_type": "default", "rope_theta": 10000.0}, 32), [12]),
    "linear factor 4": (lambda: llama_config(8, {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}, 32), [12]),
    "linear factor 1": (lambda: llama_config(8, {"rope_type": "linear", "rope_theta": 10000.0, "factor": 1.0}, 32), [12]),
    "dynamic factor 2": (
        lambda: llama_config(8, {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}, 16),
        [8, 16, 17, 40],
    ),
    "dynamic factor 1": (
        lambda: llama_config(8, {"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 1.0}, 16),
        [16, 30],
    ),
    "llama3 (the fixture's)": (
        lambda: llama_config(
            16,
            {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
            64,
        ),
        [12],
    ),
    "llama3 (Llama 3.2's values)": (
        lambda: llama_config(
            64,
            {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 32.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
            },
            131072,
        ),
        [12],
    ),
    "llama3 factor 1": (
        lambda: llama_config(
            16,
            {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 1.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
            64,
        ),
        [12],
    ),
    "yarn factor 4": (
        lambda: llama_config(
            16, {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 32}, 128
        ),
        [12],
    ),
    "yarn (Qwen2.5's long-context values)": (
        lambda: llama_config(
            64,
            {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0, "original_max_position_embeddings": 32768},
            131072,
        ),
        [12],
    ),
    "yarn with mscale and mscale_all_dim, betas 16/2, untruncated": (
        lambda: llama_config(
            16,
            {
                "rope_type": "yarn",
                "rope_theta": 10000.0,
                "factor": 8.0,
                "original_max_position_embeddings": 16,
                "mscale": 1.0,
                "mscale_all_dim": 0.5,
                "beta_fast": 16,
                "beta_slow": 2,
                "truncate": False,
            },
            128,
        ),
        [12],
    ),
    "yarn with attention_factor": (
        lambda: llama_config(
            16,
            {
                "rope_type": "yarn",
                "rope_theta": 10000.0,
                "factor": 2.0,
                "original_max_position_embeddings": 32,
                "attention_factor": 0.8,
            },
            64,
        ),
        [12],
    ),
    "yarn factor 1": (
        lambda: llama_config(
            16, {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 1.0, "original_max_position_embeddings": 32}, 32
        ),
        [12],
    ),
    "longrope (Phi-3 style: factor from the context lengths)": (
        lambda: Phi3Config(
            hidden_size=16,
            num_attention_heads=2,
            max_position_embeddings=64,
            original_max_position_embeddings=16,
            rope_parameters={
                "rope_type": "longrope",
                "rope_theta": 10000.0,
                "short_factor": [1.0, 1.1, 1.3, 1.7],
                "long_factor": [1.0, 2.0, 4.5, 9.0],
            },
        ),
        [10, 16, 17, 30],
    ),
    "longrope with attention_factor and partial rotary 0.5": (
        lambda: Phi3Config(
            hidden_size=32,
            num_attention_heads=2,
            max_position_embeddings=64,
            original_max_position_embeddings=16,
            rope_parameters={
                "rope_type": "longrope",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5,
                "short_factor": [1.0, 1.2, 1.5, 2.0],
                "long_factor": [1.5, 3.0, 6.0, 12.0],
                "attention_factor": 1.25,
            },
        ),
        [10, 20],
    ),
    "longrope all-ones, factor 1": (
        lambda: Phi3Config(
            hidden_size=16,
            num_attention_heads=2,
            max_position_embeddings=16,
            original_max_position_embeddings=16,
            rope_parameters={
                "rope_type": "longrope",
                "rope_theta": 10000.0,
                "short_factor": [1.0, 1.0, 1.0, 1.0],
                "long_factor": [1.0, 1.0, 1.0, 1.0],
            },
        ),
        [10, 20],
    ),
}


def floats(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def main():
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "cases": []}
    for name, (make, lengths) in CASES.items():
        config = make()
        params = dict(config.rope_parameters)
        rope_type = params["rope_type"]
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        rotary_dim = int(head_dim * params.get("partial_rotary_factor", 1.0))
        module_class = Phi3RotaryEmbedding if isinstance(config, Phi3Config) else LlamaRotaryEmbedding
        evaluations = []
        for length in lengths:
            # what the module computes for a sequence whose last position is length - 1 (a fresh module,
            # so a dynamic type's frequencies are those of this length, as in one generate() call)
            module = module_class(config)
            positions = torch.tensor([[0, 1, length // 2, length - 1]])
            cos, sin = module(torch.zeros(1, dtype=torch.float32), positions)
            evaluations.append(
                {
                    "sequenceLength": length,
                    "positions": positions[0].tolist(),
                    "inverseFrequencies": floats(module.inv_freq),
                    "attentionFactor": float(module.attention_scaling),
                    # cos/sin [positions, rotaryDim]: the halves repeat (torch.cat((freqs, freqs)))
                    "cos": floats(cos[0, :, : rotary_dim // 2]),
                    "sin": floats(sin[0, :, : rotary_dim // 2]),
                }
            )
        init = ROPE_INIT_FUNCTIONS.get(rope_type)
        if init is not None:
            # the init function itself, at no length (what the module starts with)
            inv, factor = init(config, None)
            assert floats(inv) == floats(module_class(config).inv_freq)
        out["cases"].append(
            {
                "name": name,
                "ropeParameters": params,
                "headDim": head_dim,
                "rotaryDim": rotary_dim,
                "maxPositionEmbeddings": config.max_position_embeddings,
                "evaluations": evaluations,
            }
        )
    with open("rope_scaling.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
