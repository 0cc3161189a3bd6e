"""Writes quant_golden.gguf: float32 rows and their Q8_0 / Q4_0 blocks as llama.cpp's own Python
package (gguf, from the local wheelhouse) quantizes them, plus Q4_K / Q6_K blocks with gguf's
dequantization of them. The test (../quant_golden.test.ts) checks our quantizers produce the same
bytes and our GGUF reader and dequantizers read the same values. Run from the repository root:

    python3 -m venv /tmp/gguf-venv
    /tmp/gguf-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy
    /tmp/gguf-venv/bin/python packages/tensor/test/golden/make_quant_golden.py
"""
import json
import struct
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

HERE = Path(__file__).parent
ROOT = HERE.parents[3]


def fixture_tensor(model: str, name: str) -> np.ndarray:
    """One tensor of a fixture's model.safetensors (F32), read without the safetensors package."""
    raw = (ROOT / "fixtures" / "models" / model / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    entry = header[name]
    assert entry["dtype"] == "F32"
    begin, end = entry["data_offsets"]
    return np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=np.float32).reshape(entry["shape"])


def edge_rows() -> np.ndarray:
    rng = np.random.default_rng(1234)
    rows = [
        np.zeros(64, np.float32),  # all zero: scale 0
        np.tile(np.array([-3, 3, 1, -1], np.float32), 16),  # |max| ties: the first (negative) wins for Q4_0
        np.tile(np.array([127, 0.5, 1.5, -2.5, 63.5, -0.5, 2.5, 126.5], np.float32), 8),  # Q8_0 halves: away from zero
        np.linspace(-8, 8, 64, dtype=np.float32),  # Q4_0 edges: x/d + 8.5 at 0 and 16
        (rng.standard_normal(64) * 1e-6).astype(np.float32),  # scales in float16's subnormals
        (rng.standard_normal(64) * 1e4).astype(np.float32),  # large
        rng.standard_normal(64).astype(np.float32),
        np.where(np.arange(64) % 2 == 0, 1.0, -1.0).astype(np.float32) * np.float32(0.1),
    ]
    return np.stack(rows)


def write_golden(name: str, script: str, add_tensors) -> None:
    """Writes golden file `name` beside this script: `add_tensors(writer)` adds its tensors; the file
    says which script and gguf version made it."""
    out = HERE / name
    writer = gguf.GGUFWriter(str(out), arch="golden")
    writer.add_string("golden.source", f"{script} with gguf " + getattr(gguf, "__version__", "?"))
    add_tensors(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def add_tensors(writer: gguf.GGUFWriter) -> None:
    sources = {
        "llama_q_proj": fixture_tensor("llama", "model.layers.0.self_attn.q_proj.weight"),
        "llama_down_proj": fixture_tensor("llama", "model.layers.1.mlp.down_proj.weight"),
        "edge": edge_rows(),
    }
    for name, values in sources.items():
        writer.add_tensor(f"{name}.f32", values)
        for qtype, label in ((T.Q8_0, "q8_0"), (T.Q4_0, "q4_0")):
            blocks = quantize(values, qtype)
            writer.add_tensor(f"{name}.{label}", blocks, raw_shape=blocks.shape, raw_dtype=qtype)
    # K-quant blocks we only read: random bytes with sane scales, and gguf's values for them
    rng = np.random.default_rng(99)
    for qtype, label, nbytes, scale_at in ((T.Q4_K, "q4_k", 144, (0, 2)), (T.Q6_K, "q6_k", 210, (208,))):
        blocks = rng.integers(0, 256, size=(4, 2 * nbytes), dtype=np.uint8)  # 4 rows of 2 super-blocks
        per_block = blocks.reshape(-1, nbytes)
        for at in scale_at:
            per_block[:, at : at + 2] = (rng.random(len(per_block)) * 0.01 + 1e-3).astype(np.float16).view(np.uint8).reshape(-1, 2)
        writer.add_tensor(f"kquant.{label}", blocks, raw_shape=blocks.shape, raw_dtype=qtype)
        writer.add_tensor(f"kquant.{label}.f32", dequantize(blocks, qtype).astype(np.float32))


if __name__ == "__main__":
    write_golden("quant_golden.gguf", "make_quant_golden.py", add_tensors)
