#!/usr/bin/env bash
# One thread's matrix-product rate: gemm's fp32 against pretext's bf16 product, the bf16 one
# on AMX tiles (where the CPU has AMX) and on AVX512-BF16 (PRETEXT_AMX=0), alternating
# ROUNDS times, all in one run (examples/matmul_rates.rs).
#
#   bench/matmul.sh                       # 512³ and conv shapes of ResNet-18's wide layers
#   SHAPES="1024x1024x1024" bench/matmul.sh
source "$(dirname "$0")/common.sh"
ROUNDS="${ROUNDS:-2}"
# 512³; a 128-channel 3×3 layer on 28×28 images of a batch of 4 (forward: C_out × N·H·W ×
# C_in·9) and its weight gradient (C_out × C_in·9 × N·H·W); a 256-channel one at 14×14.
SHAPES="${SHAPES:-512x512x512 128x3136x1152 128x1152x3136 256x784x2304}"
cargo build --release --locked --example matmul_rates >/dev/null 2>&1
X="$CARGO_TARGET_DIR/release/examples/matmul_rates"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -m1 -o -w 'avx2\|avx512f\|avx512_bf16\|amx_bf16\|amx_tile' /proc/cpuinfo | sort -u | xargs)"
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  RAYON_NUM_THREADS=1 PRETEXT_AMX=1 "$X" $SHAPES
  RAYON_NUM_THREADS=1 PRETEXT_AMX=0 "$X" $SHAPES
done
