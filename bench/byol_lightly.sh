#!/usr/bin/env bash
# BYOL end to end, pretext against lightly on the same machine: the recipe of
# configs/fashion-mnist/byol.toml (small ConvNet, 300 steps of 128, LARS, BYOL's two views)
# run by `pretext pretrain`, and the same recipe written with lightly's own components on
# PyTorch (bench/reference/byol_lightly.py: BYOLTransform, BYOL heads,
# NegativeCosineSimilarity, update_momentum, cosine schedules, LARS, DataLoader workers,
# knn_predict). For each seed, in turn: pretext's wall time (the whole `pretrain` process:
# data loading, augmentation, training, the final checkpoint; the in-training kNN probe off)
# and its kNN top-1 (`pretext eval knn`: k = 200, T = 0.1, all 60,000 train images vote for
# the 10,000 test images), then lightly's training time (DataLoader start to the last step)
# and its kNN top-1 by lightly's knn_predict under the same protocol. Prints one row per
# seed and the mean ± sd, and writes OUT/BYOL_LIGHTLY.md.
#
#   bench/byol_lightly.sh                    # seeds 0 1 2 (≈ 15 min on 2 cores)
#   SEEDS=0 THREADS=2 bench/byol_lightly.sh
#
# Needs torch, torchvision and lightly in $VENV (default ~/.cache/pretext-bench-venv):
#   python3 -m venv ~/.cache/pretext-bench-venv && ~/.cache/pretext-bench-venv/bin/pip install torch torchvision lightly
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
SEEDS="${SEEDS:-0 1 2}"
THREADS="${THREADS:-$(nproc)}"
WORKERS="${WORKERS:-$THREADS}"
OUT="${OUT:-bench/out/byol_lightly}"
PY="$VENV/bin/python"
mkdir -p "$OUT"
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
machine="$(nproc) cores of $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | awk '{print $4}') model $(grep -m1 -P '^model\t' /proc/cpuinfo | awk '{print $3}'); $(grep -o -m1 -w 'avx512f\|avx512_bf16\|amx_tile\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '))"
versions=$("$PY" -c 'import torch, lightly; print(f"torch {torch.__version__}, lightly {lightly.__version__}")')
echo "machine: $machine; $versions"

rows=()
for seed in $SEEDS; do
  run="$OUT/pretext-$seed"
  rm -rf "$run"
  start=$(date +%s.%N)
  RAYON_NUM_THREADS=$THREADS "$P" pretrain --config configs/fashion-mnist/byol.toml --data "$D" \
    --seed "$seed" --set probe.enabled=false --out "$run" > "$OUT/pretext-$seed.log" 2>&1
  p_time=$(python3 -c "import sys; print(round($(date +%s.%N) - $start, 1))")
  p_knn=$(RAYON_NUM_THREADS=$THREADS score knn --checkpoint "$run" --data "$D")
  json=$("$PY" -W ignore bench/reference/byol_lightly.py --data /usr/share/datasets/fashion-mnist \
    --threads "$THREADS" --workers "$WORKERS" --seed "$seed" 2>/dev/null)
  l_time=$(field seconds <<<"$json" | xargs printf %.1f)
  l_knn=$(field knn_top1 <<<"$json" | python3 -c 'import sys; print("%.2f" % (100 * float(sys.stdin.read())))')
  echo "seed $seed: pretext $p_time s, kNN $p_knn; lightly $l_time s, kNN $l_knn"
  rows+=("$seed $p_time $p_knn $l_time $l_knn")
done
python3 - "$machine; $versions" "$THREADS" "$WORKERS" "${rows[@]}" <<'EOF' | tee "$OUT/BYOL_LIGHTLY.md"
import statistics, sys
machine, threads, workers, rows = sys.argv[1], sys.argv[2], sys.argv[3], [r.split() for r in sys.argv[4:]]
col = lambda i: [float(r[i]) for r in rows]
ms = lambda v: f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"
print("| seed | pretext wall time (s) | pretext kNN top-1 | lightly wall time (s) | lightly kNN top-1 | lightly time / pretext time |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {float(r[3]) / float(r[1]):.2f}× |")
speedup = [l / p for p, l in zip(col(1), col(3))]
print(f"| mean ± sd | {ms(col(1))} | {ms(col(2))} | {ms(col(3))} | {ms(col(4))} | {ms(speedup)}× |")
print()
print(f"Machine: {machine}. pretext: RAYON_NUM_THREADS={threads}; lightly: torch.set_num_threads({threads}), {workers} DataLoader workers.")
EOF
