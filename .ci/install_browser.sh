#!/usr/bin/env bash
# Installs what the browser end-to-end test (tests/serve/test_browser_e2e.py) needs:
# Debian's chromium and playwright's Python package, which drives it over CDP.
# `playwright install` is never called: it downloads its own browser build, which fails
# offline. The test launches /usr/bin/chromium through `executable_path` instead.
# Idempotent: safe to run on every CI start.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi

PY="${PYTHON:-python}"
if ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
    "$PY" -m pip install -q "playwright>=1.40"
fi

/usr/bin/chromium --version 2>/dev/null
"$PY" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
