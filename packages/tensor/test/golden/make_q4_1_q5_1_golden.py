"""Writes q4_1_q5_1_golden.gguf: float32 rows (the llama fixture's and hand-picked edge rows) with
their Q4_1 and Q5_1 blocks as llama.cpp's own Python package (gguf, from the local wheelhouse)
quantizes them, and gguf's dequantization of those blocks. The test (../quant_golden.test.ts) checks
our quantizers give the same bytes and our dequantizers the same values. Run from the repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_q4_1_q5_1_golden.py
"""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

from make_quant_golden import edge_rows, fixture_tensor, write_golden


def add_tensors(writer: gguf.GGUFWriter) -> None:
    sources = {
        "llama_q_proj": fixture_tensor("llama", "model.layers.0.self_attn.q_proj.weight"),
        "edge": edge_rows(),
    }
    for name, values in sources.items():
        writer.add_tensor(f"{name}.f32", values)
        for qtype, label in ((T.Q4_1, "q4_1"), (T.Q5_1, "q5_1")):
            blocks = quantize(values, qtype)
            writer.add_tensor(f"{name}.{label}", blocks, raw_shape=blocks.shape, raw_dtype=qtype)
            writer.add_tensor(f"{name}.{label}.dequantized", dequantize(blocks, qtype).astype(np.float32))


if __name__ == "__main__":
    write_golden("q4_1_q5_1_golden.gguf", "make_q4_1_q5_1_golden.py", add_tensors)
