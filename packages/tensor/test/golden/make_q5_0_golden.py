"""Writes q5_0_golden.gguf: Q5_0 blocks as llama.cpp's own Python package (gguf, from the local
wheelhouse) quantizes rows of the llama fixture and hand-picked edge rows, beside gguf's
dequantization of those blocks. The test (../gguf_q5_0.test.ts) checks the values we read are
gguf's, bit for bit, and that our quantizer gives these bytes from the same rows (which
quant_golden.gguf holds). Run from the repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_q5_0_golden.py
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
        blocks = quantize(values, T.Q5_0)
        writer.add_tensor(f"{name}.q5_0", blocks, raw_shape=blocks.shape, raw_dtype=T.Q5_0)
        writer.add_tensor(f"{name}.q5_0.f32", dequantize(blocks, T.Q5_0).astype(np.float32))


if __name__ == "__main__":
    write_golden("q5_0_golden.gguf", "make_q5_0_golden.py", add_tensors)
