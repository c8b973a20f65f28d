#!/usr/bin/env bash
# Fine-tuning on 1 % of the Fashion-MNIST labels (600 images, 60 per class, seed 0): the
# encoders bench/joint_embedding.sh pretrained (run that first) against the same ConvNet
# trained from scratch, with SimCLR's fine-tuning recipe (`pretext finetune` defaults: SGD
# with Nesterov momentum, no weight decay, 60 epochs, batch 64) at three learning rates, so
# that no side is compared at a rate that suits only the other. Test top-1 on the 10,000 test
# images.
#
#   bench/finetune.sh                       # ≈ 2 min per cell on 2 cores
#   ENCODERS="simclr scratch" LRS="0.4" FRACTION=0.1 bench/finetune.sh
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-bench/out/joint_embedding}"
OUT="${OUT:-bench/out/finetune}"
ENCODERS="${ENCODERS:-simclr vicreg scratch}"
LRS="${LRS:-0.1 0.4 1.6}"
FRACTION="${FRACTION:-0.01}"
header="encoder"
for lr in $LRS; do header="$header lr=$lr"; done
echo "$header   (test top-1 %, fine-tuned on $FRACTION of the labels)"
for e in $ENCODERS; do
  row="$e"
  for lr in $LRS; do
    run="$OUT/$e-$FRACTION-lr$lr"
    if [ "$e" = scratch ]; then
      from=(--scratch --data "$D")
    else
      from=(--from "$RUNS/$e")
    fi
    rm -rf "$run"
    top1=$("$P" finetune "${from[@]}" --label-fraction "$FRACTION" --lr "$lr" --out "$run" \
      --quiet --json | python3 -c 'import json,sys; print(round(100*json.load(sys.stdin)["top1"], 2))')
    row="$row $top1"
  done
  echo "$row"
done
