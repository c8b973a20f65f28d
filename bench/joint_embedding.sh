#!/usr/bin/env bash
# BYOL and its family on Fashion-MNIST under the budget rules of bench/pretext_tasks.sh: the
# small ConvNet, 300 optimiser steps of 128 images (the cosine schedule of one epoch cut
# there), then linear probe and kNN on the full train and test splits, beside rotation and
# the randomly initialised encoder. Each method trains from its recipe in
# configs/fashion-mnist/: the paper's loss, heads and views, with the CIFAR-size settings the
# peers (solo-learn) use for small images where the ImageNet recipe cannot fit a 2-core CPU
# or a 300-step budget (each file says which). The last columns are the collapse indicators
# of the final step and the training time.
#
#   bench/joint_embedding.sh
#   METHODS="byol simclr" STEPS=100 bench/joint_embedding.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/joint_embedding}"
STEPS="${STEPS:-300}"
METHODS="${METHODS:-byol simclr simsiam barlow-twins vicreg moco dino rotation random-init}"
mkdir -p "$OUT"

printf '%-13s %-6s %-8s %-8s %-8s %-8s %s\n' method steps linear knn emb_std eff_rank seconds
for m in $METHODS; do
  run="$OUT/$m"
  if [ "$m" = random-init ]; then
    printf '%-13s %-6s %-8s %-8s\n' random-init 0 \
      "$(score linear --random-init --encoder convnet-small --data "$D" --cache-dir "$OUT/random")" \
      "$(score knn --random-init --encoder convnet-small --data "$D" --cache-dir "$OUT/random")"
    continue
  fi
  rm -rf "$run"
  start=$(date +%s)
  "$P" pretrain --config "configs/fashion-mnist/$m.toml" --data "$D" --max-steps "$STEPS" \
    --out "$run" --quiet >/dev/null
  secs=$(( $(date +%s) - start ))
  printf '%-13s %-6s %-8s %-8s %-8s %-8s %s\n' "$m" "$STEPS" \
    "$(score linear --checkpoint "$run" --data "$D")" "$(score knn --checkpoint "$run" --data "$D")" \
    "$(last_metric "$run/metrics.jsonl" emb_std)" "$(last_metric "$run/metrics.jsonl" eff_rank)" "$secs"
done
