#!/usr/bin/env bash
# Detection transfer on the CPU scenes benchmark (issue 18): Faster R-CNN + FPN trained with
# `pretext detect` on scenes composed from Fashion-MNIST (`pretext data scenes`, 96 × 96,
# 1–4 items each), scored on the test scenes with COCO's AP, AP50, AP75 and VOC07's AP50.
# Encoders (the small ConvNet):
#   random    a randomly initialised encoder, frozen (--freeze-stages 5): what the detector
#             learns on features nobody trained
#   scratch   the same network trained end to end from random weights
#   rotation  pretrained by rotation prediction on Fashion-MNIST (PRETRAIN_STEPS), then
#             trained end to end
# Mean ± sample sd over SEEDS (the seed sets pretraining, the detector's initialisation and
# the data order; the scenes are fixed).
#
#   bench/detection.sh                                 # ≈ 6 min per detector on 2 cores
#   ENCODERS="scratch rotation" EPOCHS=12 TRAIN=4000 bench/detection.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/detection}"
TRAIN="${TRAIN:-2000}"
TEST="${TEST:-500}"
EPOCHS="${EPOCHS:-6}"
SEEDS="${SEEDS:-0 1 2}"
ENCODERS="${ENCODERS:-random scratch rotation}"
PRETRAIN_STEPS="${PRETRAIN_STEPS:-500}"
mkdir -p "$OUT"
scenes="$OUT/scenes-$TRAIN-$TEST"
if [ ! -f "$scenes/annotations/instances_val.json" ]; then
  rm -rf "$scenes"
  "$P" data scenes --from "$D" --out "$scenes" --train "$TRAIN" --test "$TEST" --seed 0 >/dev/null
fi
coco="coco:$scenes/annotations/instances_train.json"

echo "| encoder | AP | AP50 | AP75 | VOC07 AP50 |   ($TRAIN training scenes, $EPOCHS epochs, $TEST test scenes, seeds: $SEEDS)"
echo "|---|---|---|---|---|"
for e in $ENCODERS; do
  lines=""
  for s in $SEEDS; do
    run="$OUT/$e-e$EPOCHS-s$s"
    case "$e" in
      random) from=(--scratch --freeze-stages 5) ;;
      scratch) from=(--scratch) ;;
      *)
        pre="$OUT/pretrain-$e-$PRETRAIN_STEPS-s$s"
        if [ ! -f "$pre/checkpoint.ckpt" ]; then
          rm -rf "$pre"
          "$P" pretrain --method "$e" --data "$D" --encoder convnet-small --epochs 10 \
            --max-steps "$PRETRAIN_STEPS" --batch-size 128 --seed "$s" --out "$pre" --quiet >/dev/null
        fi
        from=(--from "$pre") ;;
    esac
    # A finished cell is kept (delete OUT to start over); an unfinished one is redone.
    if [ ! -f "$run/detection.json" ]; then
      rm -rf "$run"
      "$P" detect "${from[@]}" --data "$coco" --epochs "$EPOCHS" --seed "$s" --out "$run" \
        --quiet >/dev/null
    fi
    lines+="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); c=r["coco"]
print(" ".join("%.2f" % (100*v) for v in (c["ap"], c["ap50"], c["ap75"], r["voc07_ap50"])))' \
      "$run/detection.json")"$'\n'
  done
  echo "| $e | $(printf '%s' "$lines" | columns) |"
done
