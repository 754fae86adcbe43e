#!/usr/bin/env python3
"""Writes a set of policy documents (JSONL: id, text) out as the files cities publish —
HTML pages, Word (.docx) files and PDFs with a text layer — for measuring `xiaoban import`.

    scripts/make_policy_files.sh DOCUMENTS.jsonl OUT [--mixed N]

makes OUT/html/ID.html, OUT/docx/ID.docx, OUT/pdf/ID.pdf (one file per document, named by its
id so imported ids equal the source ids), OUT/plain.jsonl (id, title, content: the same text
for the table import) and, given QUESTIONS.jsonl beside the documents, OUT/questions.jsonl in
the form `xiaoban eval` reads (question, expected_doc). With --mixed N, OUT/mixed/ holds N
files cycling through the documents and the three formats (ids suffixed to stay distinct), for
timing an import of many files.

A document's text is its title, then paragraphs separated by spaces (as in NCPPolicies). Each
format prints the title as a heading and every paragraph as one, indented as 公文 are; the
PDF uses WenQuanYi Micro Hei (Debian's fonts-wqy-microhei) embedded as a subset, as word
processors do. Needs python-docx and fpdf2 (scripts/make_policy_files.sh installs them).
"""

import argparse
import html
import json
import sys
from pathlib import Path

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def split(text):
    parts = [p for p in text.split(" ") if p.strip()]
    return parts[0], parts[1:]


def write_html(path, title, paras):
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paras)
    path.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        "<nav><a href=\"/\">首页</a> &gt; <a href=\"/zwgk\">政府信息公开</a></nav>\n"
        f"<div class=\"article\"><h1>{html.escape(title)}</h1>\n{body}</div>\n"
        "<footer>网站主办：政府办公室</footer>\n</body></html>\n",
        encoding="utf-8",
    )


def write_docx(path, title, paras):
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_heading(title, level=1)
    for p in paras:
        para = d.add_paragraph(p)
        para.paragraph_format.first_line_indent = docx.shared.Pt(24)
    d.save(str(path))


def make_pdf_writer():
    from fpdf import FPDF

    def write_pdf(path, title, paras):
        pdf = FPDF(format="A4")
        pdf.set_margins(25, 25, 25)
        pdf.set_auto_page_break(True, margin=25)
        pdf.add_font("wqy", fname=FONT, collection_font_number=0)
        pdf.set_title(title)
        pdf.add_page()
        pdf.set_font("wqy", size=16)
        pdf.multi_cell(0, 10, title, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("wqy", size=12)
        for p in paras:
            # 公文 indent a paragraph's first line by two characters.
            pdf.multi_cell(0, 8, "\u3000\u3000" + p, new_x="LMARGIN", new_y="NEXT")
        pdf.output(str(path))

    return write_pdf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("documents", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--mixed", type=int, default=0, help="also write N mixed files to OUT/mixed")
    ap.add_argument("--formats", default="html,docx,pdf")
    args = ap.parse_args()

    docs = [json.loads(l) for l in args.documents.read_text(encoding="utf-8").splitlines() if l.strip()]
    formats = args.formats.split(",")
    writers = {"html": write_html, "docx": write_docx, "pdf": make_pdf_writer()}
    ext = {"html": "html", "docx": "docx", "pdf": "pdf"}
    for f in formats:
        (args.out / f).mkdir(parents=True, exist_ok=True)
    with open(args.out / "plain.jsonl", "w", encoding="utf-8") as plain:
        for i, d in enumerate(docs):
            title, paras = split(d["text"])
            plain.write(json.dumps({"id": d["id"], "title": title, "content": "\n\n".join(paras)}, ensure_ascii=False) + "\n")
            for f in formats:
                writers[f](args.out / f / f"{d['id']}.{ext[f]}", title, paras)
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{len(docs)}", file=sys.stderr)
    questions = args.documents.parent / "questions.jsonl"
    if questions.exists():
        with open(args.out / "questions.jsonl", "w", encoding="utf-8") as q:
            for line in questions.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    v = json.loads(line)
                    q.write(json.dumps({"question": v["question"], "expected_doc": v["expected_doc"]}, ensure_ascii=False) + "\n")
    if args.mixed:
        mixed = args.out / "mixed"
        for f in formats:
            (mixed / f).mkdir(parents=True, exist_ok=True)
        for n in range(args.mixed):
            d = docs[n % len(docs)]
            f = formats[n % len(formats)]
            title, paras = split(d["text"])
            writers[f](mixed / f / f"{d['id']}-{n}.{ext[f]}", title, paras)
    print(f"wrote {len(docs)} documents as {', '.join(formats)} to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
