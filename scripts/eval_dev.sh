#!/usr/bin/env bash
# Retrieval on a development data set, as a city would measure it with its own material:
# the documents imported with `xiaoban import`, indexed, and the questions evaluated.
#
#   scripts/eval_dev.sh DATASET_DIR [XIAOBAN_BINARY] [-- EXTRA EVAL ARGS]
#
# DATASET_DIR holds documents.jsonl and questions.jsonl (../shared/data/msgabench-dev,
# ../shared/data/ncppolicies-dev); the knowledge base and index go to target/dev/NAME.
# The binary defaults to target/release/xiaoban (built if missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:?usage: scripts/eval_dev.sh DATASET_DIR [XIAOBAN_BINARY]}"
bin="${2:-target/release/xiaoban}"
shift $(($# >= 2 ? 2 : 1))
[[ "${1:-}" == -- ]] && shift
if [[ ! -x "$bin" ]]; then
  cargo build --release
fi
name="$(basename "$data")"
out="target/dev/$name"
rm -rf "$out"
mkdir -p "$out/kb/documents"
python3 scripts/dev_data.py "$data" "$out"
"$bin" --kb "$out/kb" --data-dir "$out/data" import "$out/import.jsonl" >"$out/import.log"
"$bin" --kb "$out/kb" --data-dir "$out/data" index >"$out/index.log" 2>&1 || true
"$bin" --kb "$out/kb" --data-dir "$out/data" eval "$out/eval.jsonl" "$@"
