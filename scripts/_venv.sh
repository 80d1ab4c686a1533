# Sourced by scripts/run and scripts/test: make .venv/ and keep it in step with pyproject.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv/ ..." >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing dependencies into .venv/ (first run takes a minute) ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 \
    | grep -v -e '^WARNING: Location' -e 'is ignored: it is neither a file nor a directory' >&2 || true
  .venv/bin/python -c 'import orchestration, dagster, dbt, fastapi' || { echo "error: install failed" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
