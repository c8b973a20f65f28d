#!/usr/bin/env bash
# Fine-tuning on 1 % of the Fashion-MNIST labels (600 images, 60 per class): the encoders
# bench/joint_embedding.sh pretrained (run that first) against the same ConvNet trained from
# scratch, with SimCLR's fine-tuning recipe (`pretext finetune` defaults: SGD with Nesterov
# momentum, no weight decay, 60 epochs, batch 64) at three learning rates, so that no side is
# compared at a rate that suits only the other. Test top-1 on the 10,000 test images. With
# several SEEDS each cell is the mean ± standard deviation over them: the seed picks the
# labelled images (--label-seed), the classifier's initialisation and the data order (--seed).
#
#   bench/finetune.sh                       # ≈ 2 min per cell and seed on 2 cores
#   ENCODERS="simclr scratch" LRS="0.4" SEEDS="0 1 2" bench/finetune.sh
#   FRACTION=0.1 bench/finetune.sh
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-bench/out/joint_embedding}"
OUT="${OUT:-bench/out/finetune}"
ENCODERS="${ENCODERS:-simclr vicreg scratch}"
LRS="${LRS:-0.1 0.4 1.6}"
FRACTION="${FRACTION:-0.01}"
SEEDS="${SEEDS:-0}"
header="encoder"
for lr in $LRS; do header="$header | lr=$lr"; done
echo "$header   (test top-1 %, fine-tuned on $FRACTION of the labels, seeds: $SEEDS)"
for e in $ENCODERS; do
  row="$e"
  for lr in $LRS; do
    scores=()
    for s in $SEEDS; do
      run="$OUT/$e-$FRACTION-lr$lr-seed$s"
      if [ "$e" = scratch ]; then
        from=(--scratch --data "$D")
      else
        from=(--from "$RUNS/$e")
      fi
      # A finished cell is kept (delete OUT to start over); an unfinished one is redone.
      if [ ! -f "$run/finetune.json" ]; then
        rm -rf "$run"
        "$P" finetune "${from[@]}" --label-fraction "$FRACTION" --lr "$lr" \
          --label-seed "$s" --seed "$s" --out "$run" --quiet >/dev/null
      fi
      scores+=("$(python3 -c 'import json,sys; print(100*json.load(open(sys.argv[1]))["top1"])' \
        "$run/finetune.json")")
    done
    row="$row | $(python3 -c 'import statistics as s,sys; v=[float(x) for x in sys.argv[1:]]
print("%.2f" % v[0] if len(v) == 1 else "%.2f ± %.2f" % (s.mean(v), s.stdev(v)))' "${scores[@]}")"
  done
  echo "$row"
done
