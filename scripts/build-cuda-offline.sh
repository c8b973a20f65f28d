#!/usr/bin/env bash
# Builds pretext with the `cuda` feature on a machine that cannot download CubeCL's LLVM
# bundle (tracel-llvm-bundler fetches it from GitHub in a build script).
#
# pretext's `cuda` feature makes CubeCL compile its kernels as CUDA C++ through NVRTC
# (cubecl-cuda's `cpp` feature), so the LLVM/PTX backend that cubecl-cuda always links is never
# called. This script builds without LLVM (DOCS_RS=1 makes the bundler's build scripts skip
# it), then links the LLVM functions that remain undefined to stubs that abort with their name
# if anything ever calls them. With network access, a plain
# `cargo build --release --features cuda` is the normal build and needs none of this.
#
# At run time the binary needs an NVIDIA driver and NVRTC (the CUDA toolkit's libnvrtc; CUDA_PATH
# or /usr/local/cuda for its headers).
#
#   scripts/build-cuda-offline.sh            # → $CARGO_TARGET_DIR/release/pretext
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-cuda-target}"
export DOCS_RS=1 RUSTFLAGS="-C link-arg=-Wl,--unresolved-symbols=ignore-all"
bin="$CARGO_TARGET_DIR/release/pretext"
stubs="$CARGO_TARGET_DIR/llvm-stubs"
mkdir -p "$stubs"

cargo build --release --locked --features cuda
# The symbols nothing on this system defines: the LLVM C API and CubeCL's LLVM shims.
for lib in $(ldd "$bin" | awk '$3 ~ /^\// {print $3}'); do
  nm -D --defined-only "$lib" | awk '{print $3}'
done | sed 's/@.*//' | sort -u >"$stubs/defined.txt"
nm -u "$bin" | awk '$2 !~ /@/ {print $2}' | sort -u | comm -23 - "$stubs/defined.txt" |
  grep -E '^(LLVM|cubecl_)' >"$stubs/missing.txt" || true
{
  echo '#include <stdio.h>'
  echo '#include <stdlib.h>'
  while read -r name; do
    echo "void $name(void) { fputs(\"pretext: $name called, but this build has no LLVM (scripts/build-cuda-offline.sh)\\n\", stderr); abort(); }"
  done <"$stubs/missing.txt"
} >"$stubs/stubs.c"
cc -c -O1 -fPIC "$stubs/stubs.c" -o "$stubs/stubs.o"
# Relink the binary alone (same RUSTFLAGS, so no dependency is rebuilt) with the stubs.
cargo rustc --release --locked --features cuda --bin pretext -- -C link-arg="$stubs/stubs.o"
left=$(nm -u "$bin" | awk '$2 !~ /@/ {print $2}' | sort -u | comm -23 - "$stubs/defined.txt" | grep -cE '^(LLVM|cubecl_)' || true)
[ "$left" = 0 ] || { echo "still undefined after linking the stubs: $left symbols" >&2; exit 1; }
echo "built $bin ($(wc -l <"$stubs/missing.txt") LLVM functions stubbed)"
