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
# The TensorBoard test reads the run's event files with TensorBoard's own reader.
venv="$HOME/.cache/pretext-test-venv"
if ! "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tensorboard==2.21.0
fi
export PRETEXT_TEST_PYTHON="$venv/bin/python"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
cargo fmt --all -- --check
# No two source files may import each other, directly or through others (issue 15).
python3 scripts/module_cycles.py
cargo test --release --locked --workspace 2>&1
# Training as several MPI ranks (the `mpi` feature): Open MPI, and libclang for rsmpi's
# bindings; the 2-rank runs are checked against one process.
dpkg -s libopenmpi-dev openmpi-bin libclang-dev >/dev/null 2>&1 || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libopenmpi-dev openmpi-bin libclang-dev
}
cargo test --release --locked --features mpi --test mpi 2>&1
# The AVX2 fallback: the matrix products pick AVX-512 kernels at run time where the CPU has
# them, so on such a machine the AVX2 ones would go untested. Run the kernel tests again on
# an emulated Haswell (AVX2 + FMA, no AVX-512); PRETEXT_EXPECT_ISA makes the run fail if the
# fallback was not the path taken.
command -v qemu-x86_64 >/dev/null || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends qemu-user
}
lib_tests=$(cargo test --release --locked --lib --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "pretext":
        print(m["executable"])')
echo "kernel tests on an emulated AVX2 CPU (qemu-x86_64 -cpu Haswell):"
PRETEXT_EXPECT_ISA=avx2+fma qemu-x86_64 -cpu Haswell "$lib_tests" kernels 2>&1 | tail -n 3
# The GPU build must keep compiling on machines without CUDA: type-check the `cuda` feature.
# DOCS_RS=1 makes CubeCL's LLVM bundler skip its download (nothing is linked by a check).
DOCS_RS=1 cargo check --locked --features cuda 2>&1 | tail -n 2
