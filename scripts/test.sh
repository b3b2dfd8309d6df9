#!/usr/bin/env bash
# The whole test suite: installs what it needs (see setup-test-deps.sh), then
# runs every Rust test, which includes the ckanapi and headless-browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh
cargo test --workspace --locked "$@"
