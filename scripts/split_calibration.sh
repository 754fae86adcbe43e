#!/bin/sh
# Splits tests/eval/calibration.jsonl by alternate cases (comment lines not counted):
# DIR/calibration-odd.jsonl (1st, 3rd, … case: for choosing thresholds) and
# DIR/calibration-even.jsonl (held back, reported only at the end).
#   scripts/split_calibration.sh DIR
#   xiaoban eval tests/eval/tuning.jsonl DIR/calibration-odd.jsonl
set -eu
dir=${1:?usage: scripts/split_calibration.sh DIR}
src=$(dirname "$0")/../tests/eval/calibration.jsonl
mkdir -p "$dir"
grep -v -e '^//' -e '^[[:space:]]*$' "$src" | awk 'NR % 2 == 1' > "$dir/calibration-odd.jsonl"
grep -v -e '^//' -e '^[[:space:]]*$' "$src" | awk 'NR % 2 == 0' > "$dir/calibration-even.jsonl"
