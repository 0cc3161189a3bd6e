"""Writes q5_k_golden.gguf: Q5_K blocks (what llama-quantize's Q5_K_M files hold) beside gguf's
dequantization of them, from llama.cpp's own Python package (gguf, from the local wheelhouse). gguf
has no Q5_K quantizer, so the blocks are random bytes with sane float16 d and dmin: every bit of the
6-bit scales and mins, high bits and nibbles is exercised. The test (../quant_golden.test.ts) checks
our dequantizer gives gguf's values bit for bit. Run from the repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_q5_k_golden.py
"""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

from make_quant_golden import write_golden

BLOCK_BYTES = 176


def add_tensors(writer: gguf.GGUFWriter) -> None:
    rng = np.random.default_rng(55)
    blocks = rng.integers(0, 256, size=(6, 3 * BLOCK_BYTES), dtype=np.uint8)  # 6 rows of 3 super-blocks
    per_block = blocks.reshape(-1, BLOCK_BYTES)
    for at in (0, 2):  # d, dmin
        per_block[:, at : at + 2] = (rng.random(len(per_block)) * 0.01 + 1e-3).astype(np.float16).view(np.uint8).reshape(-1, 2)
    # edge blocks: d and dmin in float16's subnormals; dmin zero; everything zero
    per_block[0, 0:2] = np.array([3e-7], np.float16).view(np.uint8)
    per_block[0, 2:4] = np.array([5e-6], np.float16).view(np.uint8)
    per_block[1, 2:4] = 0
    per_block[2, :] = 0
    writer.add_tensor("kquant.q5_k", blocks, raw_shape=blocks.shape, raw_dtype=T.Q5_K)
    writer.add_tensor("kquant.q5_k.f32", dequantize(blocks, T.Q5_K).astype(np.float32))


if __name__ == "__main__":
    write_golden("q5_k_golden.gguf", "make_q5_k_golden.py", add_tensors)
