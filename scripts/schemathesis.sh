#!/usr/bin/env bash
# schemathesis against the OpenAPI document the server serves (/api/openapi.json): every
# operation, every check (positive and negative data acceptance included), with a supervisor's
# bearer token so the protected routes are exercised past the sign-in check. Fails on any
# server error, any response whose status code, content type or body contradicts the
# document, any valid request the server refuses and any invalid one it accepts.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]      (default 30 per operation)
#
# Builds the debug binary, starts it on a free loopback port with a fresh data folder (no
# language model; the OCR models from models/ when they are there), adds a supervisor, signs in,
# and installs schemathesis (pinned) into a venv under target/ on first use. The report (JUnit
# and the failures as pytest reproducers) goes to target/schemathesis/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION=4.32.5
max_examples="${1:-30}"
out=target/schemathesis
venv=target/schemathesis-venv

if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet
bin=target/debug/xiaoban

rm -rf "$out"
mkdir -p "$out"
data="$(mktemp -d "$PWD/target/schemathesis-data.XXXXXX")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

# Rates off so that the generated requests reach the answer pipeline rather than 429 (the
# limits have their own tests); a metrics token, so that /metrics is exercised past its
# check; everything else as shipped.
metrics_token="metrics-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
cat >"$data/xiaoban.toml" <<TOML
fetch_models_on_start = false
[generation]
backend = "off"
[limits]
questions_per_minute_per_address = 0
questions_per_minute_per_session = 0
uploads_per_minute_per_account = 0
feedback_per_minute_per_address = 0
[metrics]
token = "$metrics_token"
TOML

# Who sends what: the session's token everywhere, the metrics token to /metrics. The upload
# operations may also answer 415 to data the document calls valid: whether the bytes are an
# image of a supported format no JSON Schema can state (their base64, size and count it
# does). Every other refusal of valid data stays a finding. They refuse too many images
# (over maxItems) with 413, as they do too large ones.
cat >"$out/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${XIAOBAN_ST_TOKEN}" }

[[operations]]
include-path = "/metrics"
headers = { Authorization = "Bearer ${XIAOBAN_ST_METRICS_TOKEN}" }

[[operations]]
include-path-regex = "^/api/v1/verify(/batch)?$"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "415", "429", "5xx"]
checks.negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
TOML

server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

flags=(--config "$data/xiaoban.toml" --data-dir "$data")
password="schemathesis-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
echo "$password" | "$bin" "${flags[@]}" user add st-supervisor --role supervisor >/dev/null

"$bin" "${flags[@]}" serve --listen "127.0.0.1:$port" --log-format json >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "schemathesis: the server did not start" >&2; tail -20 "$out/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$base/healthz" >/dev/null

login() {
  curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"st-supervisor\",\"password\":\"$password\"}" "$base/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
token="$(login)"

common=(
  --checks all
  --max-examples "$max_examples"
  --seed 20261129
  --workers 2
  --request-timeout 30
  --suppress-health-check too_slow,filter_too_much
  --warnings off
)

status=0
st="$PWD/$venv/bin/st"
export XIAOBAN_ST_METRICS_TOKEN="$metrics_token"
# Sign-out ends the session whose token it is given, so it runs last, on its own token.
# (Run from $out: schemathesis keeps its example database in the working directory.)
(cd "$out" && XIAOBAN_ST_TOKEN="$token" "$st" --config-file schemathesis.toml \
  run "$base/api/openapi.json" "${common[@]}" \
  --exclude-path /api/v1/auth/logout \
  --report junit,pytest --report-dir main) 2>&1 | tee "$out/main.log" || status=$?
token="$(login)"
(cd "$out" && XIAOBAN_ST_TOKEN="$token" "$st" --config-file schemathesis.toml \
  run "$base/api/openapi.json" "${common[@]}" \
  --include-path /api/v1/auth/logout \
  --report junit,pytest --report-dir logout) 2>&1 | tee "$out/logout.log" || status=$?

if grep -q '"level":"ERROR"' "$out/server.log"; then
  echo "schemathesis: the server logged errors:" >&2
  grep '"level":"ERROR"' "$out/server.log" | head -20 >&2
  status=1
fi
if ((status != 0)); then
  echo "schemathesis: findings above (reproducers in $out/*/)" >&2
  exit "$status"
fi
# The plain closing line CI reads: test cases generated and passed.
passed="$(grep -hoE '[0-9]+ generated, [0-9]+ passed' "$out"/main.log "$out"/logout.log |
  awk '{n += $3} END {print n + 0}')"
echo "schemathesis: $passed passed, 0 failed"
