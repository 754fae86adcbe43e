#!/usr/bin/env python3
"""The peer in scripts/bench_ocr.sh: the Python RapidOCR package over the same images.

    python rapidocr_peer.py SPECIMEN_DIR MODELS_DIR THREADS OUT.json

Reads every image named in SPECIMEN_DIR/truth.json with rapidocr-onnxruntime (pinned in
scripts/requirements-rapidocr.txt) using the det/cls/rec ONNX files in MODELS_DIR (the same
files `xiaoban` loads) and THREADS intra-op threads, after one warm-up image. Writes OUT.json:

    {"threads", "images", "latency_ms": {"detect"|"classify"|"recognise"|"total": {"p50", "p95"}},
     "peak_rss_mb", "lines": {FILE: [{"text", "confidence", "quad"}]}}

`total` is the wall-clock time of one `engine(path)` call (decoding included), as `xiaoban ocr
--bench` times the OCR of one image; the lines feed `xiaoban eval-docs DIR --lines OUT.json`,
which parses them exactly as it parses our own OCR output.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from pathlib import Path

from rapidocr_onnxruntime import RapidOCR


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, as `xiaoban::ocr::percentile`."""
    v = sorted(values)
    if not v:
        return 0.0
    rank = min(len(v), max(1, math.ceil(p / 100.0 * len(v))))
    return v[rank - 1]


def main() -> None:
    spec, models, threads, out = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    truth = json.loads((spec / "truth.json").read_text(encoding="utf-8"))
    files = sorted({img["file"] for case in truth["cases"] for img in case["images"]})
    engine = RapidOCR(
        det_model_path=str(models / "pp-ocrv4/ch_PP-OCRv4_det_infer.onnx"),
        cls_model_path=str(models / "pp-ocrv4/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
        rec_model_path=str(models / "pp-ocrv4/ch_PP-OCRv4_rec_infer.onnx"),
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
    )
    for part in (engine.text_det, engine.text_cls, engine.text_rec):
        # rapidocr-onnxruntime 1.4.4 keeps its OrtInferSession as `infer` (detection,
        # classification) or `session` (recognition); either wraps an InferenceSession.
        infer = getattr(part, "infer", None) or part.session
        got = infer.session.get_session_options().intra_op_num_threads
        assert got == threads, f"RapidOCR runs {got} threads, not {threads}"
    engine(str(spec / files[0]))
    stages: dict[str, list[float]] = {"detect": [], "classify": [], "recognise": [], "total": []}
    lines: dict[str, list[dict]] = {}
    for f in files:
        t = time.perf_counter()
        result, elapse = engine(str(spec / f))
        stages["total"].append((time.perf_counter() - t) * 1000.0)
        det, cls, rec = elapse if elapse else (0.0, 0.0, 0.0)
        stages["detect"].append(det * 1000.0)
        stages["classify"].append(cls * 1000.0)
        stages["recognise"].append(rec * 1000.0)
        lines[f] = [
            {"text": text, "confidence": float(score), "quad": [[float(x), float(y)] for x, y in box]}
            for box, text, score in (result or [])
        ]
    report = {
        "threads": threads,
        "images": len(files),
        "latency_ms": {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in stages.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "lines": lines,
    }
    out.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
