#!/usr/bin/env bash
# Load and fault scenarios (issue 5): drives a release build of `xiaoban serve` over loopback
# with scripts/load.py and prints throughput, p50/p99 latencies, error counts by status,
# recovery and shutdown times. Exits non-zero when a scenario fails.
#
#   scripts/load.sh                       # all four: load, rebuild, sigkill, sigterm
#   scripts/load.sh --only load --sessions 100
#   scripts/load.sh --only soak           # 1,000 verification uploads, 8 at a time: resident
#                                         # memory under 500 MB and flat after the first 100
#
# Needs python3 (3.11) with venv, the OCR models (`xiaoban models fetch pp-ocrv6` and
# `onnxruntime`; fetched here when missing) and Debian's fonts-noto-cjk for the specimens.
# Everything it writes stays under target/load/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

work=target/load
mkdir -p "$work"
venv="$work/venv"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s scripts/requirements-load.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-load.txt
  cp scripts/requirements-load.txt "$venv/requirements.txt"
fi

cargo build --release --quiet --bin xiaoban
bin=target/release/xiaoban
"$bin" models fetch pp-ocrv6 >/dev/null
"$bin" models fetch onnxruntime >/dev/null

# Synthetic (样本) identity cards and licences to upload.
if [[ ! -f "$work/specimens/truth.json" ]]; then
  "$venv/bin/python" scripts/make_specimens.py "$work/specimens" --count 8 >/dev/null
fi

# Limits raised so that the load is all from one address is not refused by the per-address
# rates (the limits have their own tests); everything else as shipped.
cat >"$work/load.toml" <<'TOML'
fetch_models_on_start = false
shutdown_deadline_secs = 15

[generation]
backend = "off"

[limits]
questions_per_minute_per_address = 0
questions_per_minute_per_session = 0
max_streams = 1024
max_streams_per_address = 1024
uploads_per_minute_per_account = 0

[scans]
workers = 1
lease_secs = 5
TOML

ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
exec "$venv/bin/python" scripts/load.py --binary "$bin" --config "$work/load.toml" \
  --work "$work/run" --specimens "$work/specimens" "$@"
