#!/usr/bin/env bash
# Writes policy documents out as HTML, DOCX and PDF files (scripts/make_policy_files.py), in a
# virtual environment under target/ with the pinned packages of requirements-policy-files.txt.
# The PDFs embed WenQuanYi Micro Hei: on Debian, `apt-get install fonts-wqy-microhei`.
#
#   scripts/make_policy_files.sh DOCUMENTS.jsonl OUT [--mixed N] [--formats html,docx,pdf]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/policy-venv
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r scripts/requirements-policy-files.txt
[[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]] || {
  echo "missing /usr/share/fonts/truetype/wqy/wqy-microhei.ttc: apt-get install fonts-wqy-microhei" >&2
  exit 1
}
exec "$venv/bin/python" scripts/make_policy_files.py "$@"
