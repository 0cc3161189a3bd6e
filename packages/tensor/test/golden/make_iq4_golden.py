"""Writes iq4_golden.gguf: IQ4_NL and IQ4_XS blocks (the non-linear 4-bit types of llama-quantize's
IQ4_NL / IQ4_XS files) beside gguf's dequantization of them, from llama.cpp's own Python package
(gguf, from the local wheelhouse). The blocks are random bytes with sane float16 scales: every
nibble, every 6-bit IQ4_XS scale. The test (../quant_golden.test.ts) checks our dequantizers give
gguf's values. (Our quantizers are checked against llama-quantize's own files:
packages/models/test/golden/llama_quantize.) Run from the repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_iq4_golden.py
"""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

from make_quant_golden import write_golden


def random_blocks(rng, rows: int, blocks: int, block_bytes: int) -> np.ndarray:
    data = rng.integers(0, 256, size=(rows, blocks * block_bytes), dtype=np.uint8)
    per_block = data.reshape(-1, block_bytes)
    per_block[:, 0:2] = (rng.random(len(per_block)) * 0.01 + 1e-3).astype(np.float16).view(np.uint8).reshape(-1, 2)
    per_block[0, 0:2] = np.array([3e-7], np.float16).view(np.uint8)  # a float16-subnormal scale
    per_block[2, :] = 0  # all zero
    return data


def add_tensors(writer: gguf.GGUFWriter) -> None:
    rng = np.random.default_rng(4)
    nl = random_blocks(rng, 6, 24, 18)  # 6 rows of 768 values
    writer.add_tensor("iquant.iq4_nl", nl, raw_shape=nl.shape, raw_dtype=T.IQ4_NL)
    writer.add_tensor("iquant.iq4_nl.f32", dequantize(nl, T.IQ4_NL).astype(np.float32))
    xs = random_blocks(rng, 6, 3, 136)
    writer.add_tensor("iquant.iq4_xs", xs, raw_shape=xs.shape, raw_dtype=T.IQ4_XS)
    writer.add_tensor("iquant.iq4_xs.f32", dequantize(xs, T.IQ4_XS).astype(np.float32))


if __name__ == "__main__":
    write_golden("iq4_golden.gguf", "make_iq4_golden.py", add_tensors)
