#!/usr/bin/env bash
# Runs every test (release mode: numerical tests are slow in debug) plus the format and lint
# checks. CI (.ci/run) calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
cargo fmt --all -- --check
cargo test --release --locked --workspace 2>&1
