#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, idempotently:
#   - Debian's chromium (the browser test drives it headless),
#   - a Python virtualenv in .venv with the pinned real clients
#     (tests/python/requirements.txt: ckanapi, requests, playwright).
# Playwright is only a driver here: it never downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test"
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

requirements=tests/python/requirements.txt
stamp=.venv/.requirements.sha256
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "creating the Python virtualenv for the client tests"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$stamp"
fi
