#!/usr/bin/env bash
# Rotation pretraining on Fashion-MNIST, then linear-probe and kNN accuracy for the
# pretrained and for a randomly initialised encoder, plus training and data-pipeline
# throughput. Fits in about 20 minutes on 2 CPU cores (after the build).
#
#   bench/rotation_fmnist.sh            # figures go to stdout, one line per result
#   STEPS=900 bench/rotation_fmnist.sh  # a longer budget
source "$(dirname "$0")/common.sh"
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

echo "rotation    linear top-1: $(score linear --checkpoint "$OUT/rotation" --data "$D") %"
echo "rotation    kNN    top-1: $(score knn --checkpoint "$OUT/rotation" --data "$D") %"
echo "random-init linear top-1: $(score linear --random-init --encoder convnet-small --data "$D" --cache-dir "$OUT/random") %"
echo "random-init kNN    top-1: $(score knn --random-init --encoder convnet-small --data "$D" --cache-dir "$OUT/random") %"
