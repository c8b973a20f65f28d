#!/usr/bin/env bash
# Rotation pretraining on Fashion-MNIST, then linear-probe and kNN accuracy for the
# pretrained and for a randomly initialised encoder, plus training and data-pipeline
# throughput. Fits in about 20 minutes on 2 CPU cores (after the build).
#
#   bench/rotation_fmnist.sh            # figures go to stdout, one line per result
#   STEPS=900 bench/rotation_fmnist.sh  # a longer budget
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
scripts/setup.sh >/dev/null
P="$CARGO_TARGET_DIR/release/pretext"
D="fashion-mnist:/usr/share/datasets/fashion-mnist"
OUT="${OUT:-bench/out/rotation_fmnist}"
STEPS="${STEPS:-468}"          # one epoch of 60,000 images at batch 128
rm -rf "$OUT"; mkdir -p "$OUT"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
pipeline=$("$P" pretrain --method rotation --data "$D" --out "$OUT/pipeline" --pipeline-only 40 | awk '{print $3}')
echo "data pipeline alone (rotation views, batch 128): $pipeline images/s"

start=$(date +%s)
"$P" pretrain --method rotation --data "$D" --encoder convnet-small --epochs 1 \
  --max-steps "$STEPS" --batch-size 128 --lr 0.05 --out "$OUT/rotation" --quiet >"$OUT/pretrain.txt"
train_ips=$(grep -o '[0-9.]* images/s' "$OUT/pretrain.txt" | awk '{print $1}')
echo "training throughput (rotation, convnet-small, 4 views per image): $train_ips images/s ($(( $(date +%s) - start )) s for $STEPS steps)"

result() { "$P" eval "$@" --data "$D" --json | python3 -c 'import json,sys; print(round(100*json.load(sys.stdin)["top1"], 2))'; }
echo "rotation    linear top-1: $(result linear --checkpoint "$OUT/rotation") %"
echo "rotation    kNN    top-1: $(result knn --checkpoint "$OUT/rotation") %"
echo "random-init linear top-1: $(result linear --random-init --encoder convnet-small --cache-dir "$OUT/random") %"
echo "random-init kNN    top-1: $(result knn --random-init --encoder convnet-small --cache-dir "$OUT/random") %"
