#!/usr/bin/env bash
# Exports pretext ViTs and loads them into timm with strict=True, checking that timm computes
# pretext's features on the test images `pretext export --sample` wrote (a few DINO steps on
# Fashion-MNIST, so the weights are not the initialisation): a CPU-size ViT-Tiny (patch 4 at
# 28 px, learned position embeddings, CLS features) and a ViT-Small (fixed sine-cosine position
# embeddings, mean-pooled features, LayerScale, stochastic depth). Needs PyTorch, timm and
# safetensors in $VENV (default ~/.cache/pretext-bench-venv), installed from PyPI when missing:
#   bench/export_timm.sh
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
OUT="${OUT:-bench/out/export_timm}"
rm -rf "$OUT"; mkdir -p "$OUT"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import torch, timm, safetensors, numpy' 2>/dev/null ||
  "$VENV/bin/pip" install -q torch timm safetensors numpy

# name, architecture, then --set overrides
cases=(
  "tiny vit-tiny encoder.width=0.5 encoder.depth=4"
  "small vit-small encoder.depth=2 encoder.pos_embed=\"sincos\" encoder.pool=\"mean\" encoder.layer_scale=0.1 encoder.drop_path=0.1"
)
for case in "${cases[@]}"; do
  read -r name arch overrides <<< "$case"
  sets=(); for o in $overrides; do sets+=(--set "$o"); done
  run="$OUT/$name"
  "$P" pretrain --method dino --data "$D" --encoder "$arch" "${sets[@]}" --max-steps 5 \
    --batch-size 16 --out "$run" --quiet --set probe.enabled=false >/dev/null
  "$P" export --checkpoint "$run" --out "$run.safetensors" --sample 64 >/dev/null
  "$VENV/bin/python" -W ignore bench/reference/check_export.py "$run.safetensors"
done
