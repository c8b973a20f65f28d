#!/usr/bin/env bash
# Layer-wise learning-rate decay when fine-tuning ViTs (issue 17): MAE's recipe
# (configs/fashion-mnist/mae.toml: ViT-Tiny, patch 4, 300 steps of 128) pretrained with each
# of SEEDS, then fine-tuned on 1 % of the Fashion-MNIST labels with MAE's ViT fine-tuning
# recipe (`pretext finetune` defaults for ViTs) at each layer decay of DECAYS; test top-1,
# per seed and as mean ± sample sd.
#
#   bench/layer_decay.sh                      # ≈ 5 min per pretraining, 3 per fine-tuning
#   DECAYS="0.65 0.75 0.9 1" EPOCHS=40 bench/layer_decay.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/layer_decay}"
SEEDS="${SEEDS:-0 1 2}"
DECAYS="${DECAYS:-0.75 1}"
EPOCHS="${EPOCHS:-20}"
FRACTION="${FRACTION:-0.01}"
mkdir -p "$OUT"
for s in $SEEDS; do
  mae="$OUT/mae-s$s"
  # A finished pretraining or fine-tuning is kept (delete OUT to start over).
  if [ ! -f "$mae/finished" ]; then
    "$P" pretrain --config configs/fashion-mnist/mae.toml --out "$mae" --seed "$s" --resume --quiet >/dev/null
    touch "$mae/finished"
  fi
done
header="| layer decay |"; rule="|---|"
for s in $SEEDS; do header="$header seed $s |"; rule="$rule---|"; done
echo "$header mean ± sd |   (test top-1 %, fine-tuned $EPOCHS epochs on $FRACTION of the labels)"
echo "$rule---|"
for d in $DECAYS; do
  scores=()
  for s in $SEEDS; do
    run="$OUT/ft-d$d-s$s"
    if [ ! -f "$run/finetune.json" ]; then
      rm -rf "$run"
      "$P" finetune --from "$OUT/mae-s$s" --out "$run" --label-fraction "$FRACTION" \
        --label-seed "$s" --seed "$s" --layer-decay "$d" --epochs "$EPOCHS" --quiet >/dev/null
    fi
    scores+=("$(python3 -c 'import json,sys; print("%.2f" % (100*json.load(open(sys.argv[1]))["top1"]))' "$run/finetune.json")")
  done
  row="| $d |"
  for v in "${scores[@]}"; do row="$row $v |"; done
  echo "$row $(mean_sd "${scores[@]}") |"
done
