#!/usr/bin/env bash
# System packages some tests need (Debian): chromium for the browser end-to-end test and
# tesseract for the OCR-assisted page retriever. Without them those tests skip; with them
# they run. Idempotent.
set -uo pipefail
cd "$(dirname "$0")/.."
bash .ci/install_browser.sh || echo "warning: chromium not installed; the browser test will skip" >&2
bash .ci/install_ocr.sh || echo "warning: tesseract not installed; the OCR tests will skip" >&2
exit 0
