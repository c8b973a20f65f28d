#!/usr/bin/env bash
# Exports pretext ViTs and loads them into timm with strict=True, checking that timm computes
# pretext's features on the test images `pretext export --sample` wrote (a few DINO steps on
# Fashion-MNIST, so the weights are not the initialisation): a CPU-size ViT-Tiny (patch 4 at
# 28 px, learned position embeddings, CLS features) and a ViT-Small (fixed sine-cosine position
# embeddings, mean-pooled features, LayerScale, stochastic depth). Needs PyTorch, timm and
# safetensors in $VENV (default ~/.cache/pretext-bench-venv), installed from PyPI when missing:
#   bench/export_timm.sh
# Last, the import direction: timm weights start a pretext run (train.init_encoder) unchanged.
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

# The other direction: a timm ViT (its own initialisation, with a 10-class head) saved as
# safetensors starts a pretext run (train.init_encoder; one step at learning rate 1e-30), whose
# export must hold timm's weights unchanged and reproduce timm's features.
run="$OUT/from-timm"
"$VENV/bin/python" -W ignore - "$run.timm.safetensors" <<'PY'
import sys, timm, torch
from safetensors.torch import save_file
torch.manual_seed(0)
net = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=28,
                        patch_size=4, in_chans=1, embed_dim=96, depth=4)
save_file({k: v.contiguous() for k, v in net.state_dict().items()}, sys.argv[1])
PY
"$P" pretrain --method rotation --data "$D" --encoder vit-tiny --set encoder.width=0.5 \
  --set encoder.depth=4 --set train.init_encoder="\"$run.timm.safetensors\"" --lr 1e-30 \
  --max-steps 1 --batch-size 16 --out "$run" --quiet --set probe.enabled=false >/dev/null
"$P" export --checkpoint "$run" --out "$run.safetensors" --sample 64 >/dev/null
"$VENV/bin/python" -W ignore - "$run.timm.safetensors" "$run.safetensors" <<'PY'
import json, sys, timm, torch
from safetensors.torch import load_file
theirs, ours = load_file(sys.argv[1]), load_file(sys.argv[2])
weights = max((theirs[k] - ours[k]).abs().max().item() for k in ours)
assert set(theirs) - set(ours) == {"head.weight", "head.bias"}, set(theirs) ^ set(ours)
net = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=28,
                        patch_size=4, in_chans=1, embed_dim=96, depth=4)
net.load_state_dict(theirs, strict=True)
net.eval()
sample = load_file(sys.argv[2].removesuffix(".safetensors") + ".sample.safetensors")
with torch.no_grad():
    features = net.forward_head(net.forward_features(sample["input"]), pre_logits=True)
diff = (features - sample["features"]).abs().max().item()
print(json.dumps({"import": "timm vit_tiny (embed 96, depth 4, patch 4)", "max_weight_change": weights,
                  "max_abs_diff": diff, "max_abs_feature": features.abs().max().item()}))
sys.exit(0 if weights <= 1e-20 and diff <= 1e-4 * max(1.0, features.abs().max().item()) else 1)
PY
