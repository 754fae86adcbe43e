#!/usr/bin/env python3
"""Two plain BM25 peers for comparing Xiaoban's retrieval on any documents/questions pair.

Peers (rank_bm25's BM25Okapi with its defaults, whole documents as units):
  jieba-bm25   jieba `lcut_for_search` words, punctuation and whitespace dropped
  char-bm25    character unigrams and bigrams (punctuation and whitespace dropped first)

Documents come from a JSONL file (`--documents`: `id` plus the text in `text` or `answer`,
otherwise every other string field joined) or from a knowledge base folder (`--kb`:
documents/*.md, the TOML front matter dropped except title and aliases; documents replaced
by another one or past their `effective_to` are skipped). Questions come from a JSONL file
(`--questions`: `question` and `expected_doc`; cases without an expected document and
lines starting with // are skipped).

Prints hit@1, hit@3, hit@5 and milliseconds per query for each peer, or JSON with --json.
Run it through scripts/peers.sh, which keeps the pinned packages in target/peers-venv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
import tomllib
import unicodedata
from pathlib import Path

import jieba
import numpy as np
from rank_bm25 import BM25Okapi

KS = (1, 3, 5)


def fail(message: str) -> None:
    print(f"peers.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        fail(f"cannot read {path}: {err}")
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            fail(f"{path}:{number}: not JSON ({err})")
        if not isinstance(row, dict):
            fail(f"{path}:{number}: expected a JSON object")
        rows.append(row)
    return rows


def documents_from_jsonl(path: Path) -> list[tuple[str, str]]:
    docs = []
    for row in read_jsonl(path):
        if "id" not in row:
            fail(f"{path}: a document has no `id`")
        for field in ("text", "answer"):
            if isinstance(row.get(field), str):
                text = row[field]
                break
        else:
            text = "\n".join(v for k, v in row.items() if k != "id" and isinstance(v, str))
        docs.append((str(row["id"]), text))
    return docs


def in_force(meta: dict, today: dt.date) -> bool:
    if meta.get("superseded_by"):
        return False
    until = meta.get("effective_to")
    if isinstance(until, dt.datetime):
        until = until.date()
    if isinstance(until, str):
        until = dt.date.fromisoformat(until)
    return until is None or until >= today


def documents_from_kb(folder: Path) -> list[tuple[str, str]]:
    files = sorted((folder / "documents").glob("*.md"))
    if not files:
        fail(f"{folder}/documents has no .md files")
    today = dt.date.today()
    docs = []
    for file in files:
        raw = file.read_text(encoding="utf-8")
        meta: dict = {}
        body = raw
        if raw.startswith("+++"):
            parts = raw.split("+++", 2)
            if len(parts) < 3:
                fail(f"{file}: front matter is not closed by +++")
            try:
                meta = tomllib.loads(parts[1])
            except tomllib.TOMLDecodeError as err:
                fail(f"{file}: front matter is not TOML ({err})")
            body = parts[2]
        if not in_force(meta, today):
            continue
        head = [meta.get("title", "")] + list(meta.get("aliases", []))
        docs.append((meta.get("id", file.stem), "\n".join(head) + "\n" + body))
    return docs


def keep(ch: str) -> bool:
    """Letters, digits and CJK characters; punctuation, symbols and spaces are dropped."""
    return unicodedata.category(ch)[0] in "LN"


def word_tokens(text: str) -> list[str]:
    return [w.lower() for w in jieba.lcut_for_search(text) if any(keep(c) for c in w)]


def char_tokens(text: str) -> list[str]:
    chars = [c.lower() for c in text if keep(c)]
    return chars + [a + b for a, b in zip(chars, chars[1:])]


def run_peer(tokenize, docs, questions) -> dict:
    ids = [doc_id for doc_id, _ in docs]
    index = BM25Okapi([tokenize(text) for _, text in docs])
    hits = dict.fromkeys(KS, 0)
    started = time.perf_counter()
    for q in questions:
        scores = index.get_scores(tokenize(q["question"]))
        order = np.argsort(-scores, kind="stable")[: max(KS)]
        ranked = [ids[i] for i in order]
        for k in KS:
            if q["expected_doc"] in ranked[:k]:
                hits[k] += 1
    elapsed = time.perf_counter() - started
    n = len(questions)
    result = {f"hit@{k}": round(hits[k] / n, 3) for k in KS}
    result["ms_per_query"] = round(elapsed * 1000 / n, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--documents", type=Path, help="documents JSONL (id + text/answer)")
    source.add_argument("--kb", type=Path, help="a knowledge_base/ folder")
    parser.add_argument("--questions", type=Path, required=True, help="questions JSONL")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    jieba.setLogLevel(logging.WARNING)
    docs = documents_from_kb(args.kb) if args.kb else documents_from_jsonl(args.documents)
    known = {doc_id for doc_id, _ in docs}
    questions = [
        q for q in read_jsonl(args.questions) if q.get("expected_doc") and q.get("question")
    ]
    if not questions:
        fail(f"{args.questions}: no question has an expected_doc")
    missing = sorted({q["expected_doc"] for q in questions} - known)
    if missing:
        print(
            f"peers.py: warning: {len(missing)} expected document(s) not among the documents "
            f"(counted as misses): {', '.join(missing[:5])}",
            file=sys.stderr,
        )

    results = {
        "documents": len(docs),
        "questions": len(questions),
        "peers": {
            "jieba-bm25": run_peer(word_tokens, docs, questions),
            "char-bm25": run_peer(char_tokens, docs, questions),
        },
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print(f"{results['documents']} documents, {results['questions']} questions")
    print(f"{'peer':<12} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'ms/query':>9}")
    for name, r in results["peers"].items():
        print(
            f"{name:<12} {r['hit@1']:>6.3f} {r['hit@3']:>6.3f} {r['hit@5']:>6.3f} "
            f"{r['ms_per_query']:>9.2f}"
        )


if __name__ == "__main__":
    main()
