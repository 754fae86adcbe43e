#!/usr/bin/env bash
# Live handoff under load (issue 11): 100 citizens waiting with their event streams open and
# 10 agents answering on one node over loopback, then a SIGKILL and restart in the middle of
# conversations; prints delivery latencies (p50/p99), queue figures and lost messages, and
# exits non-zero when a message is lost. Uses the debug build (`cargo build --bin xiaoban`)
# unless LOAD_XIAOBAN_BIN names another; everything it writes stays under target/.
#
#   scripts/load_handoff.sh [--citizens 100] [--agents 10] [--rounds 3] [--kill-group 10]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/load/venv
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s scripts/requirements-load.txt "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-load.txt
  cp scripts/requirements-load.txt "$venv/requirements.txt"
fi
bin="${LOAD_XIAOBAN_BIN:-target/debug/xiaoban}"
if [[ -z "${LOAD_XIAOBAN_BIN:-}" ]]; then
  cargo build --quiet --bin xiaoban
fi
exec "$venv/bin/python" scripts/load_handoff.py --bin "$bin" "$@"
