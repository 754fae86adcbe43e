#!/usr/bin/env bash
# Browser accessibility test: starts `xiaoban serve` on a free loopback port with a fresh
# data directory, runs tests/browser/axe.mjs and tests/browser/handoff.mjs (a citizen in the
# widget and an agent in the console) against it, stops the server.
#
#   tests/browser/run.sh [PATH_TO_XIAOBAN]     (default target/debug/xiaoban; builds nothing)
#
# Screenshots and axe's JSON results go to tests/artifacts/. Exits with axe.mjs's status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${1:-target/debug/xiaoban}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
if [[ ! -x "$BIN" ]]; then
  echo "run.sh: no xiaoban binary at $BIN (run cargo build first)" >&2
  exit 2
fi
command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 2; }

cd "$ROOT"
if [[ ! -d tests/browser/node_modules ]]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

TMP="$(mktemp -d -t xiaoban-browser.XXXXXX)"
LOG="$TMP/server.log"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# The clerk page's test (CLERK_TEST_*, not XIAOBAN_*: those are configuration): a clerk account (password on stdin, as an administrator adds one),
# the OCR models in models/ (fetched, hash-checked, when missing) and generated specimens.
export CLERK_TEST_USER=browser-clerk
export CLERK_TEST_PASSWORD="browser test $$ $RANDOM"
mkdir -p "$TMP/data"
printf '%s\n' "$CLERK_TEST_PASSWORD" |
  "$BIN" user add "$CLERK_TEST_USER" --role clerk --data-dir "$TMP/data" >/dev/null
# A supervisor confirms the clerk's correction and reads the access log.
export CLERK_TEST_SUPERVISOR=browser-supervisor
printf '%s\n' "$CLERK_TEST_PASSWORD" |
  "$BIN" user add "$CLERK_TEST_SUPERVISOR" --role supervisor --data-dir "$TMP/data" >/dev/null
# The handoff test (tests/browser/handoff.mjs): an agent account, and people answer at any hour.
export HANDOFF_TEST_AGENT=browser-agent
export HANDOFF_TEST_PASSWORD="$CLERK_TEST_PASSWORD"
printf '%s\n' "$HANDOFF_TEST_PASSWORD" |
  "$BIN" user add "$HANDOFF_TEST_AGENT" --role agent --data-dir "$TMP/data" >/dev/null
if [[ ! -e models/pp-ocrv6/PP-OCRv6_rec_small.onnx || ! -d models/onnxruntime ]]; then
  "$BIN" models fetch pp-ocrv6 && "$BIN" models fetch onnxruntime ||
    echo "run.sh: could not fetch the OCR models; the clerk page's upload steps will fail" >&2
fi
export CLERK_TEST_SPECIMENS="$TMP/specimens"
python3 scripts/make_specimens.py "$CLERK_TEST_SPECIMENS" --count 2 >/dev/null

# cwd is the repository root, so the server finds knowledge_base/, forms/ and models/.
XIAOBAN_HANDOFF__HOURS=always "$BIN" serve --log-format text --listen 127.0.0.1:0 --data-dir "$TMP/data" 2>"$LOG" &
SERVER_PID=$!

ADDR=""
for _ in $(seq 1 1200); do   # up to 120 s: the first start builds the index
  ADDR="$(sed -n 's#.*小办已启动：http://\([^/]*\)/widget.*#\1#p' "$LOG" | head -n1)"
  [[ -n "$ADDR" ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: xiaoban exited before listening; its stderr:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$ADDR" ]]; then
  echo "run.sh: xiaoban did not print its address within 120 s; its stderr:" >&2
  cat "$LOG" >&2
  exit 1
fi
echo "run.sh: xiaoban listening on http://$ADDR"

status=0
node tests/browser/axe.mjs "http://$ADDR" tests/artifacts || status=$?
node tests/browser/handoff.mjs "http://$ADDR" tests/artifacts || status=$?
if [[ $status -ne 0 ]]; then
  echo "run.sh: server log (last 40 lines):" >&2
  tail -n 40 "$LOG" >&2 || true
fi
exit "$status"
