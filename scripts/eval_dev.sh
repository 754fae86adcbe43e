#!/usr/bin/env bash
# Retrieval on a development data set, as a city would measure it with its own material:
# the documents imported with `xiaoban import`, indexed, and the questions evaluated.
#
#   [HALF=a|b] scripts/eval_dev.sh DATASET_DIR [XIAOBAN_BINARY] [-- EXTRA EVAL ARGS]
#
# HALF=a evaluates only the questions on odd lines of questions.jsonl (the half to tune on),
# HALF=b those on even lines (the half kept for the final measurement); unset, all of them.
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
case "${HALF:-}" in
  "") questions="$out/eval.jsonl" ;;
  a | b) questions="$out/eval-$HALF.jsonl" ;;
  *) echo "HALF is a or b" >&2; exit 2 ;;
esac
"$bin" --kb "$out/kb" --data-dir "$out/data" eval "$questions" "$@"
