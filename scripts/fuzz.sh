#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, one after the other, and exits
# non-zero when any of them crashes (a panic, an input slower than 10 s, or more memory than
# -rss_limit_mb). Crashing inputs are kept in fuzz/artifacts/TARGET/; a fixed one becomes a
# unit test in the crate.
#
#   scripts/fuzz.sh [--quick] [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
#
# --quick builds the targets in fuzz/'s dev profile (the crate and the parsers it leans on
# optimised, the other dependencies not): a cold build in under half of the release
# build's time, at about a fifth of its inputs a second. scripts/test.sh uses it for its short
# run; fuzzing campaigns use the default release build.
#
# Needs the nightly toolchain and cargo-fuzz; installs them with rustup and cargo when they
# are missing (scripts/setup.sh installs them before scripts/test.sh runs this briefly). Targets are
# built without a sanitizer (safe Rust: a sanitizer finds little that the panics and limits
# do not, at half the speed) and with debug assertions on, so arithmetic overflow is a crash
# too. The corpus grows in fuzz/corpus/TARGET (not committed),
# seeded from fuzz/seeds/TARGET and, for the document parser, the knowledge base.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=()
if [[ "${1:-}" == --quick ]]; then
  profile=(--dev)
  shift
fi
secs="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(intake kb_parse ident fields official_html official_docx official_pdf)

rustup toolchain list | grep '^nightly' >/dev/null || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2

build=("${profile[@]}" --sanitizer none --debug-assertions)
cargo +nightly fuzz build "${build[@]}"

max_len() {
  case "$1" in
    intake) echo 262144 ;;
    kb_parse) echo 65536 ;;
    ident) echo 512 ;;
    fields) echo 8192 ;;
    official_html) echo 65536 ;;
    official_docx | official_pdf) echo 262144 ;;
    *) echo 4096 ;;
  esac
}

failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  seeds=()
  [[ -d "fuzz/seeds/$t" ]] && seeds+=("fuzz/seeds/$t")
  [[ "$t" == kb_parse ]] && seeds+=(knowledge_base/documents)
  echo "fuzz: $t for ${secs}s"
  if ! cargo +nightly fuzz run "${build[@]}" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -max_len="$(max_len "$t")" -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" 2>"fuzz/artifacts/$t.log"; then
    failed+=("$t")
    grep -E "ERROR|panicked|SUMMARY|Test unit written" "fuzz/artifacts/$t.log" | head -20 >&2 || true
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "fuzz/artifacts/$t.log" |
    sed "s/^/fuzz: $t /" || true
done

if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a crash"
