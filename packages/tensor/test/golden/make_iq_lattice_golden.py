"""Writes iq_lattice_golden.gguf: blocks of llama.cpp's lattice types (IQ2_XXS, IQ2_XS, IQ2_S,
IQ3_XXS, IQ3_S, IQ1_S, IQ1_M: the types of llama-quantize's IQ1/IQ2/IQ3 files) beside gguf's
dequantization of them, from llama.cpp's own Python package (gguf, from the local wheelhouse). The
blocks are random bytes with sane float16 scales (IQ1_M's spread over its scale words' top
nibbles): every grid index, sign group and sub-block scale; one block with a float16-subnormal
scale and one all zero. The test (../quant_golden.test.ts) checks our dequantizers give gguf's
values. Run from the repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_iq_lattice_golden.py
"""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

from make_quant_golden import write_golden

# name, type, bytes a block
TYPES = [
    ("iq2_xxs", T.IQ2_XXS, 66),
    ("iq2_xs", T.IQ2_XS, 74),
    ("iq2_s", T.IQ2_S, 82),
    ("iq3_xxs", T.IQ3_XXS, 98),
    ("iq3_s", T.IQ3_S, 110),
    ("iq1_s", T.IQ1_S, 50),
    ("iq1_m", T.IQ1_M, 56),
]


def set_scale(block: np.ndarray, qtype, d: float) -> None:
    bits = int(np.array([d], np.float16).view(np.uint16)[0])
    if qtype == T.IQ1_M:
        # the f16's four nibbles, low first, in the top nibbles of the u16s at bytes 48, 50, 52, 54
        for k in range(4):
            block[49 + 2 * k] = (block[49 + 2 * k] & 0x0F) | (((bits >> (4 * k)) & 0xF) << 4)
    else:
        block[0] = bits & 0xFF
        block[1] = bits >> 8


def random_blocks(rng, qtype, rows: int, blocks: int, block_bytes: int) -> np.ndarray:
    data = rng.integers(0, 256, size=(rows, blocks * block_bytes), dtype=np.uint8)
    per_block = data.reshape(-1, block_bytes)
    for i, block in enumerate(per_block):
        set_scale(block, qtype, float(rng.random() * 0.01 + 1e-3))
    set_scale(per_block[0], qtype, 3e-7)  # a float16-subnormal scale
    per_block[2, :] = 0  # all zero
    return data


def add_tensors(writer: gguf.GGUFWriter) -> None:
    rng = np.random.default_rng(5)
    for name, qtype, block_bytes in TYPES:
        blocks = random_blocks(rng, qtype, 6, 3, block_bytes)  # 6 rows of 768 values
        writer.add_tensor(f"iquant.{name}", blocks, raw_shape=blocks.shape, raw_dtype=qtype)
        writer.add_tensor(f"iquant.{name}.f32", dequantize(blocks, qtype).astype(np.float32))


if __name__ == "__main__":
    write_golden("iq_lattice_golden.gguf", "make_iq_lattice_golden.py", add_tensors)
