#!/usr/bin/env bash
# Exports pretext ResNets and loads them into torchvision with strict=True, checking that
# torchvision computes pretext's features on the test images `pretext export --sample` wrote:
# ResNet-18 with the CIFAR stem (rotation on Fashion-MNIST, a few steps) and ResNet-50 with
# the ImageNet stem. Needs PyTorch, torchvision and safetensors in $VENV (default
# ~/.cache/pretext-bench-venv), which the script installs from PyPI when they are missing:
#   bench/export_torchvision.sh
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
OUT="${OUT:-bench/out/export_torchvision}"
rm -rf "$OUT"; mkdir -p "$OUT"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import torch, torchvision, safetensors, numpy' 2>/dev/null ||
  "$VENV/bin/pip" install -q torch torchvision safetensors numpy pillow

# architecture, stem, learning rate of the few training steps
for case in "resnet18 auto 0.05" "resnet50 imagenet 0.002"; do
  set -- $case
  run="$OUT/$1"
  "$P" pretrain --method rotation --data "$D" --encoder "$1" --set encoder.stem="$2" --lr "$3" \
    --max-steps 5 --batch-size 16 --out "$run" --quiet --set probe.enabled=false >/dev/null
  "$P" export --checkpoint "$run" --out "$run.safetensors" --sample 64 >/dev/null
  "$VENV/bin/python" -W ignore bench/reference/check_export.py "$run.safetensors"
done
