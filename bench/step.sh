#!/usr/bin/env bash
# Training-step speed against PyTorch, side by side: for each case and thread count, ROUNDS
# rounds that each time pretext's step (`pretext pretrain --compute-only`: one batch built
# once, then STEPS optimiser steps after two warm-up steps; forward, backward, SGD update and
# the method's after-step, BatchNorm in training mode), the same with burn's own operations
# instead of pretext's kernels (PRETEXT_KERNELS=burn), and then the same step in PyTorch,
# eager and under torch.compile (bench/reference/train_step.py, synthetic data, same network,
# batch, optimiser and thread count). Prints images/s, the ratios (median over rounds) and
# the achieved GFLOP/s (FLOPs counted by PyTorch's flop counter on the same step, 2 per
# multiply-add) against the machine's fp32 peak: PyTorch's large matrix product measured in the
# same run (the nominal cores × clock × 32 FLOP/cycle is printed too).
# Writes OUT/STEP.md, and OUT/pretext-CASE-THREADS.txt with the share of pretext's step spent
# in each of its kernels (last round).
#
#   bench/step.sh                                    # every case, 1 and 2 threads (≈ 40 min)
#   CASES="convnet narrow" THREADS="2" ROUNDS=1 bench/step.sh
#   PRECISION=bf16 CASES=narrow THREADS=2 bench/step.sh   # mixed precision on both sides
#
# PRECISION=bf16 runs pretext with train.precision = "bf16" (its convolutions' direct
# products on bf16 operands where the CPU has AVX512-BF16) and PyTorch's forward under
# torch.autocast("cpu", dtype=torch.bfloat16) (--bf16 of the reference); the burn-kernels
# column stays fp32 (burn has no mixed precision).
#
# Needs PyTorch (CPU) and torchvision in $VENV (default ~/.cache/pretext-bench-venv):
#   python3 -m venv ~/.cache/pretext-bench-venv && ~/.cache/pretext-bench-venv/bin/pip install torch torchvision
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
CASES="${CASES:-resnet18 narrow convnet byol}"
THREADS="${THREADS:-1 2}"
ROUNDS="${ROUNDS:-2}"
STEPS="${STEPS:-}"
PRECISION="${PRECISION:-fp32}"
OUT="${OUT:-bench/out/step}"
PY="$VENV/bin/python"
mkdir -p "$OUT"

# case → "label|pretext flags|reference flags|steps"
case_spec() {
  local resnet=(--encoder resnet18 --set data.image_size=32 --set encoder.in_channels=3)
  local supervised=(--method supervised --set method.head_norm=false)
  case "$1" in
    resnet18) echo "ResNet-18, CIFAR stem, 3×32×32, supervised|${supervised[*]} ${resnet[*]}|--net resnet18|3" ;;
    narrow) echo "ResNet-18 widths 16–128, 3×32×32, supervised|${supervised[*]} ${resnet[*]} --set encoder.width=0.25|--net resnet18 --width 0.25|20" ;;
    convnet) echo "small ConvNet, 1×28×28, supervised|${supervised[*]} --encoder convnet-small|--net convnet-small --channels 1 --size 28|30" ;;
    byol) echo "BYOL, ResNet-18 widths 16–128, 2 views of 3×32×32|--method byol ${resnet[*]} --set encoder.width=0.25|--net resnet18 --width 0.25 --method byol|5" ;;
    *) echo "unknown case $1 (resnet18, narrow, convnet, byol)" >&2; exit 2 ;;
  esac
}
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
# The practical fp32 peak with THREADS threads: PyTorch's 4096 × 4096 matrix product (MKL or
# OpenBLAS), which a virtual machine's nominal clock understates when the cores boost.
matmul_peak() { "$PY" -c 'import sys, time, torch
torch.set_num_threads(int(sys.argv[1])); n = 4096
a, b = torch.randn(n, n), torch.randn(n, n); a @ b
s = time.perf_counter(); [a @ b for _ in range(4)]
print(2 * n**3 * 4 / (time.perf_counter() - s) / 1e9)' "$1"; }

mhz=$(grep -m1 'cpu MHz' /proc/cpuinfo | awk '{print $4}')
machine="$(nproc) cores of $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 -P '^model\t' /proc/cpuinfo | awk '{print $3}'), ${mhz} MHz, $(grep -o -m1 -w 'avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')), torch $("$PY" -c 'import torch; print(torch.__version__)')"
echo "machine: $machine"
declare -A peak
for t in $THREADS; do
  peak[$t]=$(matmul_peak "$t")
  echo "$t threads: PyTorch's 4096² matrix product runs at $(printf %.0f "${peak[$t]}") GFLOP/s"
done
rows=()
for c in $CASES; do
  IFS='|' read -r label ours reference steps <<<"$(case_spec "$c")"
  if [ "$PRECISION" = bf16 ]; then
    ours+=" --set train.precision=bf16"; reference+=" --bf16"; label+=", bf16"
  fi
  steps="${STEPS:-$steps}"
  for t in $THREADS; do
    p=(); b=(); e=(); k=(); flops=0
    for round in $(seq "$ROUNDS"); do
      # shellcheck disable=SC2086
      RAYON_NUM_THREADS=$t "$P" pretrain $ours --data "$D" --batch-size 128 \
        --out "$OUT/unused" --compute-only "$steps" > "$OUT/pretext-$c-$t.txt"
      p+=("$(awk 'NR == 1 {print $3}' "$OUT/pretext-$c-$t.txt")")
      # shellcheck disable=SC2086
      b+=("$(PRETEXT_KERNELS=burn RAYON_NUM_THREADS=$t "$P" pretrain $ours --data "$D" --batch-size 128 \
        --out "$OUT/unused" --compute-only "$steps" | awk 'NR == 1 {print $3}')")
      # shellcheck disable=SC2086
      json=$("$PY" -W ignore bench/reference/train_step.py $reference --threads "$t" --steps "$steps" 2>/dev/null)
      e+=("$(field images_per_sec <<<"$json")"); flops=$(field flops_per_image <<<"$json")
      # shellcheck disable=SC2086
      k+=("$("$PY" -W ignore bench/reference/train_step.py $reference --threads "$t" --steps "$steps" --compile 2>/dev/null | field images_per_sec)")
      echo "$c, $t threads, round $round: pretext ${p[-1]} (burn's kernels ${b[-1]}), eager ${e[-1]}, compile ${k[-1]} images/s"
    done
    rows+=("$(python3 - "$label" "$t" "$flops" "${peak[$t]}" "$(median "${p[@]}")" "$(median "${e[@]}")" "$(median "${k[@]}")" "$(median "${b[@]}")" <<'EOF'
import sys
label, t, flops, peak, p, e, k, b = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
g = lambda ips: f"{ips * flops / 1e9:.0f} ({100 * ips * flops / (peak * 1e9):.0f} %)"
print(f"| {label} | {t} | {p:.1f} | {b:.1f} | {e:.1f} | {k:.1f} | **{p / e:.2f}×** | **{p / k:.2f}×** | {b / e:.2f}× | {g(p)} | {g(e)} | {g(k)} | {flops / 1e9:.2f} |")
EOF
)")
  done
done
{
  echo "| case | threads | pretext img/s | pretext with burn's kernels | PyTorch eager img/s | PyTorch compile img/s | pretext / eager | pretext / compile | burn's kernels / eager | pretext GFLOP/s (% of matmul peak) | eager GFLOP/s | compile GFLOP/s | GFLOP per image per step |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Machine: $machine. Batch 128, SGD momentum 0.9; medians of $ROUNDS rounds; precision $PRECISION."
  for t in $THREADS; do
    echo "Peak with $t threads: nominal $(python3 -c "print(round($t * $mhz * 32 / 1000))") GFLOP/s (threads × nominal clock × 32 FLOP/cycle), measured $(printf %.0f "${peak[$t]}") GFLOP/s (PyTorch's 4096² matrix product; the percentages use it)."
  done
} | tee "$OUT/STEP.md"
