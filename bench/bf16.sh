#!/usr/bin/env bash
# What bf16 mixed precision (train.precision = "bf16") does to a pretraining: the same recipe
# with fp32 and with bf16 products, SEEDS seeds each, then linear probe and kNN on the full
# Fashion-MNIST splits; prints each run, then mean ± sd per precision, and the wall time of
# the pretraining (data loading included). Default: the SimCLR recipe
# (configs/fashion-mnist/simclr.toml) on the narrow ResNet-18 (widths 16–128), whose
# 16-channel and strided layers take bf16's direct products (the small ConvNet's layers are
# all Winograd, which stays fp32). Needs a CPU with AVX512-BF16; elsewhere both rows are fp32
# and pretext says so.
#
#   bench/bf16.sh                            # 3 seeds, 100 steps (≈ 30 min on 2 cores)
#   SEEDS="0" STEPS=50 bench/bf16.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/bf16}"
SEEDS="${SEEDS:-0 1 2}"
STEPS="${STEPS:-100}"
RECIPE="${RECIPE:-configs/fashion-mnist/simclr.toml}"
ENCODER="${ENCODER:---encoder resnet18 --set encoder.width=0.25}"
mkdir -p "$OUT"
grep -o -m1 -w 'avx512_bf16' /proc/cpuinfo >/dev/null || echo "this CPU has no AVX512-BF16: both precisions run fp32"
echo "machine: $(nproc) cores of $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 -P '^model\t' /proc/cpuinfo | awk '{print $3}'))"
results="$OUT/results.txt"
: > "$results"
printf '%-9s %-5s %-8s %-8s %s\n' precision seed linear knn seconds
for seed in $SEEDS; do
  for precision in fp32 bf16; do
    run="$OUT/$precision-$seed"
    rm -rf "$run"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$P" pretrain --config "$RECIPE" $ENCODER --data "$D" --max-steps "$STEPS" --seed "$seed" \
      --set "train.precision=$precision" --set probe.enabled=false --out "$run" --quiet >/dev/null
    secs=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$start" "$(date +%s.%N)")
    line="$(printf '%-9s %-5s %-8s %-8s %s' "$precision" "$seed" \
      "$(score linear --checkpoint "$run" --data "$D")" "$(score knn --checkpoint "$run" --data "$D")" "$secs")"
    echo "$line" | tee -a "$results"
  done
done
python3 - "$results" "$RECIPE" "$STEPS" <<'PY' | tee "$OUT/BF16.md"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def stat(xs):
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"
print(f"| precision | linear top-1 % | kNN top-1 % | pretraining s | seeds |  ({sys.argv[2]}, {sys.argv[3]} steps)")
print("|---|---|---|---|---|")
for p in ("fp32", "bf16"):
    r = [x for x in rows if x[0] == p]
    print(f"| {p} | {stat([float(x[2]) for x in r])} | {stat([float(x[3]) for x in r])} | {stat([float(x[4]) for x in r])} | {len(r)} |")
PY
