#!/usr/bin/env bash
# Runs every test (release mode: numerical tests are slow in debug) plus the format and lint
# checks. CI (.ci/run) calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The report test renders a page in a headless browser.
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
cargo fmt --all -- --check
cargo test --release --locked --workspace 2>&1
# The GPU build must keep compiling on machines without CUDA: type-check the `cuda` feature.
# DOCS_RS=1 makes CubeCL's LLVM bundler skip its download (nothing is linked by a check).
DOCS_RS=1 cargo check --locked --features cuda 2>&1 | tail -n 2
