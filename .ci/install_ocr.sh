#!/usr/bin/env bash
# Installs tesseract for the OCR-assisted page retriever (local_backend/pages):
# Debian's tesseract-ocr with the English model and orientation/script detection (osd: reads
# pages whose figures are printed sideways). Without it the OCR tests skip and scanned pages
# cannot be searched. Idempotent: safe to run on every CI start.
set -euo pipefail

have() { [ -f "/usr/share/tesseract-ocr/5/tessdata/$1.traineddata" ] || ls /usr/share/tesseract-ocr/*/tessdata/"$1".traineddata >/dev/null 2>&1; }

if ! command -v tesseract >/dev/null 2>&1 || ! have eng || ! have osd; then
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd
fi

tesseract --version 2>&1 | head -1
