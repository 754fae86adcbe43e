#!/usr/bin/env python3
"""The peer in scripts/bench_ocr.sh: the Python RapidOCR package over the same images.

    python rapidocr_peer.py SPECIMEN_DIR MODELS_DIR THREADS OUT.json

Reads every image named in SPECIMEN_DIR/truth.json with rapidocr (pinned in
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

from rapidocr import RapidOCR


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
        params={
            "Det.model_path": str(models / "pp-ocrv6/PP-OCRv6_det_small.onnx"),
            "Cls.model_path": str(models / "pp-ocrv6/ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
            "Rec.model_path": str(models / "pp-ocrv6/PP-OCRv6_rec_small.onnx"),
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "Global.log_level": "error",
        }
    )
    engine(str(spec / files[0]))
    for part in (engine.text_det, engine.text_cls, engine.text_rec):
        # rapidocr 3.x loads each model on first use (the warm-up above) and keeps its
        # OrtInferSession as `session`, which wraps an InferenceSession.
        got = part.session.session.get_session_options().intra_op_num_threads
        assert got == threads, f"RapidOCR runs {got} threads, not {threads}"
    stages: dict[str, list[float]] = {"detect": [], "classify": [], "recognise": [], "total": []}
    lines: dict[str, list[dict]] = {}
    for f in files:
        t = time.perf_counter()
        result = engine(str(spec / f))
        stages["total"].append((time.perf_counter() - t) * 1000.0)
        det, cls, rec = (list(result.elapse_list) + [0.0, 0.0, 0.0])[:3]
        stages["detect"].append((det or 0.0) * 1000.0)
        stages["classify"].append((cls or 0.0) * 1000.0)
        stages["recognise"].append((rec or 0.0) * 1000.0)
        found = zip(result.boxes, result.txts, result.scores) if result.txts else []
        lines[f] = [
            {"text": text, "confidence": float(score), "quad": [[float(x), float(y)] for x, y in box]}
            for box, text, score in found
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
