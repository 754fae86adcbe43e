#!/usr/bin/env bash
# Sign-in flood against a real `xiaoban serve` over loopback: ROUNDS rounds (default 2) of N
# (default 60) wrong-password sign-ins for one account sent at once. Prints the statuses of
# each round, the passwords the server checked (xiaoban_password_checks_total) and its peak
# resident memory (VmHWM) before the flood and after it.
#
#   scripts/signin_flood.sh [N] [ROUNDS]
#
# Uses target/debug/xiaoban (built here if missing; XIAOBAN_BIN for another build: argon2 is
# optimised in the debug profile too). Needs curl. Writes only to a temporary folder under
# target/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

n="${1:-60}"
rounds="${2:-2}"
bin="${XIAOBAN_BIN:-target/debug/xiaoban}"
[[ -x "$bin" ]] || cargo build --quiet --bin xiaoban

work="$(mktemp -d "$PWD/target/signin-flood.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

token="flood-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
cat >"$work/xiaoban.toml" <<TOML
fetch_models_on_start = false
[generation]
backend = "off"
[metrics]
token = "$token"
TOML
flags=(--config "$work/xiaoban.toml" --data-dir "$work/data")
echo "the right password" | "$bin" "${flags[@]}" user add flooded --role clerk >/dev/null

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$bin" "${flags[@]}" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 240); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server did not start" >&2; tail "$work/server.log" >&2; exit 1; }
  sleep 0.5
done

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status"; }
checks() {
  curl -fsS -H "Authorization: Bearer $token" "$base/metrics" |
    awk '$1 == "xiaoban_password_checks_total" {print $2}'
}

before="$(hwm)"
echo "peak resident memory after start-up: $((before / 1024)) MB (VmHWM $before kB)"
for r in $(seq 1 "$rounds"); do
  echo "round $r: $n wrong sign-ins at once:"
  seq 1 "$n" | xargs -P "$n" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    -H 'Content-Type: application/json' \
    -d '{"username":"flooded","password":"wrong password {}"}' \
    "$base/api/v1/auth/login" | sort | uniq -c | sed 's/^/  /'
done
after="$(hwm)"
echo "passwords checked: $(checks)"
echo "peak resident memory after the flood: $((after / 1024)) MB (VmHWM $after kB), up $(((after - before) / 1024)) MB"
