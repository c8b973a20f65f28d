#!/usr/bin/env bash
# Training throughput of rotation pretraining (small ConvNet, batch 128 × 4 rotations, 28×28
# gray, SGD) in pretext and in PyTorch, measured in the same run, as a ratio; plus the data
# pipeline alone. Needs PyTorch (CPU) in $VENV (default ~/.cache/pretext-bench-venv):
#   python3 -m venv ~/.cache/pretext-bench-venv && ~/.cache/pretext-bench-venv/bin/pip install torch
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
STEPS="${STEPS:-40}"
THREADS="${THREADS:-$(nproc)}"
OUT="${OUT:-bench/out/throughput_rotation}"
rm -rf "$OUT"; mkdir -p "$OUT"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); torch $("$VENV/bin/python" -W ignore -c 'import torch; print(torch.__version__)' 2>/dev/null)"
pipeline=$("$P" pretrain --method rotation --data "$D" --out "$OUT/p" --pipeline-only 40 | awk '{print $3}')
echo "pretext data pipeline alone: $pipeline images/s"
for round in 1 2; do
  "$P" pretrain --method rotation --data "$D" --epochs 1 --max-steps "$STEPS" --batch-size 128 \
    --out "$OUT/r$round" --quiet --set train.log_every=10 >/dev/null
  # Skip the first logging window (warm-up), average the others.
  ours=$(python3 -c "import json,sys; r=[json.loads(l)['images_per_sec'] for l in open('$OUT/r$round/metrics.jsonl')][1:]; print(round(sum(r)/len(r),1))")
  torch=$("$VENV/bin/python" -W ignore bench/torch_rotation.py --threads "$THREADS" --steps 30 2>/dev/null)
  echo "round $round: pretext $ours images/s, PyTorch $torch images/s, ratio pretext/PyTorch $(python3 -c "print(round($ours/$torch,2))")"
done
