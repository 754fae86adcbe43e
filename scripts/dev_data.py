#!/usr/bin/env python3
"""Turns a development data set (documents.jsonl + questions.jsonl, as in ../shared/data) into
what `xiaoban import` and `xiaoban eval` read, the way a city would bring its own material in.

    scripts/dev_data.py DATASET_DIR OUT_DIR

writes OUT_DIR/import.jsonl (one row per document: id, title, department, answer),
OUT_DIR/eval.jsonl (question, expected_doc) and its two halves, fixed in advance by line
number: OUT_DIR/eval-a.jsonl the questions on odd lines (1, 3, 5, …; the half to tune on) and
OUT_DIR/eval-b.jsonl those on even lines (measured once, at the end). A document's title is its own first line (a
policy's heading) when it has one; answers without a heading (MSGABench) get the same neutral
title "政务答复", so the title field adds nothing a question could match (titling them by
department made every answer of a department match its name); the department is kept as the
issuing body.
"""
import json
import re
import sys
from pathlib import Path


def title_of(doc):
    text = doc.get("text") or doc.get("answer") or ""
    if "text" in doc:
        head = re.split(r"[\s]", text.strip(), maxsplit=1)[0]
        if 4 <= len(head) <= 60:
            return head
    return "政务答复"


def main():
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with open(src / "documents.jsonl", encoding="utf-8") as f, open(
        out / "import.jsonl", "w", encoding="utf-8"
    ) as w:
        for line in f:
            d = json.loads(line)
            row = {
                "id": d["id"],
                "title": title_of(d),
                "department": (d.get("department") or "").strip(),
                "answer": d.get("text") or d.get("answer"),
            }
            w.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(src / "questions.jsonl", encoding="utf-8") as f:
        rows = [
            json.dumps(
                {"question": q["question"], "expected_doc": q["expected_doc"]},
                ensure_ascii=False,
            )
            + "\n"
            for q in map(json.loads, f)
        ]
    for name, part in [
        ("eval.jsonl", rows),
        ("eval-a.jsonl", rows[0::2]),
        ("eval-b.jsonl", rows[1::2]),
    ]:
        with open(out / name, "w", encoding="utf-8") as w:
            w.writelines(part)


if __name__ == "__main__":
    main()
