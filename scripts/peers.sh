#!/usr/bin/env bash
# The two Python retrieval peers (jieba + BM25, character uni+bigram BM25) on any
# documents/questions pair; arguments go to scripts/peers.py:
#
#   scripts/peers.sh --documents ../shared/data/msgabench-dev/documents.jsonl \
#                    --questions ../shared/data/msgabench-dev/questions.jsonl
#   scripts/peers.sh --kb knowledge_base --questions tests/eval/test.jsonl [--json]
#
# Needs python3 (3.11) with venv; the pinned packages (scripts/requirements-peers.txt) are
# installed once into target/peers-venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/peers-venv"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$root/scripts/requirements-peers.txt" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-peers.txt"
  cp "$root/scripts/requirements-peers.txt" "$venv/requirements.txt"
fi
exec "$venv/bin/python" "$root/scripts/peers.py" "$@"
