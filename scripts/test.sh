#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run installs what a fresh machine lacks,
# then runs this script; nothing here installs anything):
#   1. all Rust tests: unit, CLI, the eval-set floor, the end-to-end HTTP tests; the storage
#      tests also run on PostgreSQL when XIAOBAN_TEST_POSTGRES_URL is set;
#   2. the fuzz targets (scripts/fuzz.sh: image intake, document parser, identifier parsers,
#      field extractors, the import's HTML, DOCX and PDF readers), each for XIAOBAN_FUZZ_SECS seconds (default 15); a panic, an input
#      slower than 10 s or runaway memory fails the run, the input kept in fuzz/artifacts/.
#      Needs the nightly toolchain and cargo-fuzz (.ci/run installs them). The targets are
#      built in fuzz/'s quick (dev) profile: the release build a fuzzing campaign uses
#      (scripts/fuzz.sh without --quick) takes 16 minutes cold on two cores;
#   3. the browser accessibility test (axe-core in Debian's Chromium) against a real server;
#   4. hadolint on the Dockerfile (scripts/requirements-lint.txt; .ci/run installs it);
#   5. schemathesis against the served OpenAPI document (scripts/schemathesis.sh; about a
#      minute; the one exception to the rule above: it keeps its pinned schemathesis in a venv
#      under target/, installed from PyPI on first use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --all-targets

fuzz_secs="${XIAOBAN_FUZZ_SECS:-15}"
[[ "$fuzz_secs" =~ ^[1-9][0-9]*$ ]] || {
  echo "test: XIAOBAN_FUZZ_SECS must be a whole number of seconds, at least 1" >&2
  exit 1
}
if ! rustup toolchain list | grep '^nightly' >/dev/null || ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "test: the fuzz targets need the nightly toolchain and cargo-fuzz (.ci/run installs them:" >&2
  echo "      rustup toolchain install nightly --profile minimal; cargo install cargo-fuzz --locked --version 0.13.2)" >&2
  exit 1
fi
scripts/fuzz.sh --quick "$fuzz_secs"
cargo build
tests/browser/run.sh target/debug/xiaoban
command -v hadolint >/dev/null 2>&1 || {
  echo "test: hadolint is missing (.ci/run installs it: python3 -m pip install -r scripts/requirements-lint.txt)" >&2
  exit 1
}
hadolint Dockerfile
scripts/schemathesis.sh
