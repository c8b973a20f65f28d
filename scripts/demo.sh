#!/usr/bin/env bash
# The main job on its real default: rotation pretraining of the small ConvNet on
# Fashion-MNIST (Debian's dataset-fashion-mnist), then linear-probe and kNN evaluation next
# to a randomly initialised encoder. About 6½ minutes on 2 CPU cores after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
pretext="$CARGO_TARGET_DIR/release/pretext"
data="fashion-mnist:/usr/share/datasets/fashion-mnist"
run="${RUN:-runs/demo-rotation}"
limit="${LIMIT:-19200}"   # images seen: one epoch of 150 steps at batch 128

if [ -e "$run/checkpoint.ckpt" ]; then
  "$pretext" pretrain --config "$run/config.toml" --resume
else
  "$pretext" pretrain --method rotation --data "$data" --encoder convnet-small \
    --epochs 1 --batch-size 128 --lr 0.05 --set data.limit="$limit" --out "$run"
fi
echo "== rotation-pretrained encoder ($run)"
"$pretext" eval linear --checkpoint "$run" --data "$data"
"$pretext" eval knn --checkpoint "$run" --data "$data"
echo "== random-init encoder (the baseline)"
"$pretext" eval linear --random-init --encoder convnet-small --data "$data" --cache-dir "$run/random-init"
"$pretext" eval knn --random-init --encoder convnet-small --data "$data" --cache-dir "$run/random-init"
