#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run installs what a fresh machine lacks,
# then runs this script; nothing here installs anything):
#   1. all Rust tests: unit, CLI, the eval-set floor, the end-to-end HTTP tests; the storage
#      tests also run on PostgreSQL when XIAOBAN_TEST_POSTGRES_URL is set;
#   2. the browser accessibility test (axe-core in Debian's Chromium) against a real server;
#   3. schemathesis against the served OpenAPI document (scripts/schemathesis.sh; about a
#      minute; the one exception to the rule above: it keeps its pinned schemathesis in a venv
#      under target/, installed from PyPI on first use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --all-targets
cargo build
tests/browser/run.sh target/debug/xiaoban
scripts/schemathesis.sh
