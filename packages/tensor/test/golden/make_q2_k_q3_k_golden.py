"""Writes q2_k_q3_k_golden.gguf: Q2_K and Q3_K blocks (what llama-quantize's Q2_K and Q3_K_S / _M / _L
files hold) beside gguf's dequantization of them, from llama.cpp's own Python package (gguf, from
the local wheelhouse). gguf has no quantizer for them, so the blocks are random bytes with sane
float16 scales: every bit of the scales, mins, high bits and quants is exercised. The test
(../quant_golden.test.ts) checks our dequantizers give gguf's values. (Our quantizers are checked
against llama-quantize's own files: packages/models/test/golden/llama_quantize.) Run from the
repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_q2_k_q3_k_golden.py
"""
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

from make_quant_golden import write_golden

Q2_K_BYTES = 84  # 16 scale/min bytes, 64 bytes of quants, d, dmin
Q3_K_BYTES = 110  # 32 bytes of high bits, 64 of quants, 12 of scales, d


def random_blocks(rng, block_bytes: int, scale_at: list[int]) -> np.ndarray:
    blocks = rng.integers(0, 256, size=(6, 3 * block_bytes), dtype=np.uint8)  # 6 rows of 3 super-blocks
    per_block = blocks.reshape(-1, block_bytes)
    for at in scale_at:
        per_block[:, at : at + 2] = (rng.random(len(per_block)) * 0.01 + 1e-3).astype(np.float16).view(np.uint8).reshape(-1, 2)
    # edge blocks: scales in float16's subnormals, then everything zero
    for k, at in enumerate(scale_at):
        per_block[0, at : at + 2] = np.array([3e-7 * (k + 1)], np.float16).view(np.uint8)
    per_block[2, :] = 0
    return blocks


def add_tensors(writer: gguf.GGUFWriter) -> None:
    rng = np.random.default_rng(23)
    q2 = random_blocks(rng, Q2_K_BYTES, [80, 82])
    q2.reshape(-1, Q2_K_BYTES)[1, 82:84] = 0  # a zero dmin
    writer.add_tensor("kquant.q2_k", q2, raw_shape=q2.shape, raw_dtype=T.Q2_K)
    writer.add_tensor("kquant.q2_k.f32", dequantize(q2, T.Q2_K).astype(np.float32))
    q3 = random_blocks(rng, Q3_K_BYTES, [108])
    writer.add_tensor("kquant.q3_k", q3, raw_shape=q3.shape, raw_dtype=T.Q3_K)
    writer.add_tensor("kquant.q3_k.f32", dequantize(q3, T.Q3_K).astype(np.float32))


if __name__ == "__main__":
    write_golden("q2_k_q3_k_golden.gguf", "make_q2_k_q3_k_golden.py", add_tensors)
