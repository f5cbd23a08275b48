#!/usr/bin/env bash
# Installs what the browser end-to-end test (tests/vertex_mm/serve/test_browser_e2e.py) needs: Debian's
# chromium, and playwright's Python package, which drives it over CDP.
# `playwright install` is never called: it downloads its own browser build, which fails
# offline. The test launches /usr/bin/chromium through `executable_path` instead.
# Idempotent: safe to run on every CI start, before or after the virtualenv exists.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
/usr/bin/chromium --version 2>/dev/null

# playwright (the Python package) belongs in the project's environment; the dev extra lists it.
# Install it here only into an environment that exists: $PYTHON, else ./.venv. A missing venv
# is not an error (pip install -e ".[dev]" brings playwright later).
PY="${PYTHON:-}"
if [ -z "$PY" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if [ -n "$PY" ]; then
    if ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
        "$PY" -m pip install -q "playwright>=1.40" || echo "warning: could not pip install playwright into $PY" >&2
    fi
    "$PY" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))" 2>/dev/null || true
fi
