#!/usr/bin/env bash
# OCR benchmark against a peer: xiaoban's PP-OCR pipeline (Rust, ort) and the Python RapidOCR
# package (rapidocr, pinned in scripts/requirements-rapidocr.txt) over the same
# generated specimen images, with the same ONNX model files and the same number of threads.
#
#   scripts/bench_ocr.sh [DIR] [THREADS]
#
# DIR      specimen folder (default target/specimens-300); generated when it has no truth.json
#          (scripts/make_specimens.py --count 100 --seed 11: 100 cards, front and back or a back
#          alone, and 100 licences, about 290 images in 13 conditions with invalid variants;
#          takes a few minutes)
# THREADS  intra-op threads for both engines (default: nproc; xiaoban uses one per core)
#
# Prints per-image latency (detection, classification, recognition, total: p50 and p95) and
# resident memory for both, the ratio of the medians, and the identity-number accuracy of both
# after the same parsing (`xiaoban eval-docs`; RapidOCR's lines through `--lines`). Results
# are kept in target/bench-ocr/. Needs python3 (venv), the OCR models (`xiaoban models fetch
# pp-ocrv6 && xiaoban models fetch onnxruntime`), and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-target/specimens-300}
THREADS=${2:-$(nproc)}
OUT=target/bench-ocr
mkdir -p "$OUT"

if [ "$THREADS" != "$(nproc)" ]; then
    echo "bench_ocr: xiaoban runs one thread per core ($(nproc)); THREADS must be $(nproc) for a fair comparison" >&2
    exit 2
fi

# The peer, in its own venv, pinned. Its Pillow (a dependency of rapidocr) also draws the
# specimens, so the system python3 needs nothing installed.
VENV=target/rapidocr-venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet -r scripts/requirements-rapidocr.txt

# (i) the specimens
if [ ! -f "$DIR/truth.json" ]; then
    echo "== generating about 290 specimen images in $DIR"
    "$VENV/bin/python" scripts/make_specimens.py "$DIR" --count 100 --seed 11 >/dev/null
fi

# (ii) xiaoban, release build
echo "== building xiaoban (release)"
cargo build --release --quiet
BIN=target/release/xiaoban

# Same model files: the wheel's copies must be the manifest's (which xiaoban loads).
WHEEL_MODELS=$("$VENV/bin/python" -c 'import os, rapidocr as r; print(os.path.join(os.path.dirname(r.__file__), "models"))')
for f in PP-OCRv6_det_small.onnx ch_ppocr_mobile_v2.0_cls_mobile.onnx PP-OCRv6_rec_small.onnx; do
    pinned=$(grep -A1 "path = \"pp-ocrv6/$f\"" models/manifest.toml | sed -n 's/^sha256 = "\(.*\)".*/\1/p')
    ours=$(sha256sum "models/pp-ocrv6/$f" | cut -d' ' -f1)
    wheel=$(sha256sum "$WHEEL_MODELS/$f" | cut -d' ' -f1)
    if [ "$pinned" != "$ours" ] || [ "$pinned" != "$wheel" ]; then
        echo "bench_ocr: $f differs (manifest $pinned, models/ $ours, wheel $wheel)" >&2
        exit 1
    fi
    echo "same model: $f sha256 $pinned"
done

echo "== machine: $(nproc) cores; $(uptime)"
echo "== xiaoban ocr --bench (1 round over every image, after one warm-up)"
/usr/bin/time -v "$BIN" ocr --bench "$DIR" --rounds 1 --json >"$OUT/xiaoban.json" 2>"$OUT/xiaoban.time"
echo "== RapidOCR $(grep -E "^rapidocr" scripts/requirements-rapidocr.txt) with $THREADS threads"
/usr/bin/time -v "$VENV/bin/python" scripts/rapidocr_peer.py "$DIR" models "$THREADS" "$OUT/rapidocr.json" 2>"$OUT/rapidocr.time"
echo "== machine after: $(uptime)"

echo "== field accuracy after the same parsing (eval-docs)"
"$BIN" eval-docs "$DIR" --json >"$OUT/eval-xiaoban.json"
"$BIN" eval-docs "$DIR" --lines "$OUT/rapidocr.json" --json >"$OUT/eval-rapidocr.json"

peak() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$1" | awk '{printf "%.0f", $1 / 1024}'; }
OURS_PEAK=$(peak "$OUT/xiaoban.time")
PEER_PEAK=$(peak "$OUT/rapidocr.time")

jq -r -n \
    --slurpfile x "$OUT/xiaoban.json" --slurpfile r "$OUT/rapidocr.json" \
    --slurpfile ex "$OUT/eval-xiaoban.json" --slurpfile er "$OUT/eval-rapidocr.json" \
    --arg op "$OURS_PEAK" --arg rp "$PEER_PEAK" '
    def f: . * 10 | round / 10 | tostring;
    def pct: . * 1000 | round / 10 | tostring + " %";
    $x[0] as $x | $r[0] as $r | $ex[0] as $ex | $er[0] as $er |
    "images: \($x.images)   threads: \($r.threads) each",
    "",
    "stage (ms per image)        xiaoban p50 / p95        RapidOCR p50 / p95",
    "detection                   \($x.detect_ms.p50|f) / \($x.detect_ms.p95|f)          \($r.latency_ms.detect.p50|f) / \($r.latency_ms.detect.p95|f)",
    "classification              \($x.classify_ms.p50|f) / \($x.classify_ms.p95|f)          \($r.latency_ms.classify.p50|f) / \($r.latency_ms.classify.p95|f)",
    "recognition                 \($x.recognise_ms.p50|f) / \($x.recognise_ms.p95|f)          \($r.latency_ms.recognise.p50|f) / \($r.latency_ms.recognise.p95|f)",
    "OCR total                   \($x.total_ms.p50|f) / \($x.total_ms.p95|f)",
    "file to text (total)        \($x.end_to_end_ms.p50|f) / \($x.end_to_end_ms.p95|f)          \($r.latency_ms.total.p50|f) / \($r.latency_ms.total.p95|f)",
    "  (xiaoban: decode + locate and straighten the document + OCR; RapidOCR: engine(path))",
    "",
    "median ratio xiaoban / RapidOCR (file to text): \(($x.end_to_end_ms.p50 / $r.latency_ms.total.p50) * 100 | round / 100)   (target <= 0.8)",
    "",
    "memory: xiaoban RSS with models loaded \($x.rss_loaded_mb|f) MB, peak \($op) MB (target < 400); RapidOCR peak \($rp) MB",
    "",
    "identity number exact match: xiaoban \($ex.fields.id_number.accuracy|pct), RapidOCR \($er.fields.id_number.accuracy|pct) (\($ex.fields.id_number.total) numbers)",
    "credit code exact match:     xiaoban \($ex.fields.credit_code.accuracy|pct), RapidOCR \($er.fields.credit_code.accuracy|pct)",
    "all fields exact match:      xiaoban \($ex.fields_all.accuracy|pct), RapidOCR \($er.fields_all.accuracy|pct)"
'
